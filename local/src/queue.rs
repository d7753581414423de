//! The queue pump: what AWS's SQS event source mapping does for the
//! worker and the deliverer, done locally. It long-polls the queue, hands the messages to the
//! worker as a real SQS event, and deletes only those the worker did not
//! name in `batchItemFailures`; the others come back after the queue's
//! visibility timeout, and after `maxReceiveCount` receives SQS moves them
//! to the dead-letter queue.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use folio::events::deliver::Deliverer;
use folio::events::worker::Worker;
use serde_json::json;

use crate::pump::PumpError;

/// A function on a queue's trigger: the worker, the deliverer.
pub trait Consumer {
    fn consume(&self, event: SqsEvent) -> impl std::future::Future<Output = SqsBatchResponse>;
}

impl Consumer for Worker {
    async fn consume(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle(event).await
    }
}

impl Consumer for Deliverer {
    async fn consume(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle(event).await
    }
}

/// Messages per invocation, as the trigger's batch size.
const BATCH: i32 = 10;

/// What one round of the pump did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub received: usize,
    pub failed: usize,
}

#[derive(Debug, Clone)]
pub struct QueuePump {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    arn: String,
}

impl QueuePump {
    pub async fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Result<Self, PumpError> {
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or("the queue has no ARN")?;
        Ok(QueuePump {
            sqs,
            queue_url,
            arn,
        })
    }

    /// Receives one batch (waiting up to `wait` for it), runs the consumer
    /// on it and deletes what it finished.
    pub async fn pump(&self, consumer: &impl Consumer, wait: Duration) -> Result<Round, PumpError> {
        let messages = self.receive(wait).await?;
        if messages.is_empty() {
            return Ok(Round::default());
        }
        let response = consumer.consume(self.event(&messages)?).await;
        self.settle(&messages, &response).await
    }

    /// Up to one batch of messages, waiting up to `wait` for the first.
    /// SQS's long poll answers as soon as a message is there; moto's waits
    /// out its time until it has a full batch, so the pump polls instead
    /// (every 50 ms), which is what SQS's long poll looks like from here.
    pub async fn receive(&self, wait: Duration) -> Result<Vec<Message>, PumpError> {
        let until = std::time::Instant::now() + wait;
        loop {
            let got = self.receive_waiting(Duration::ZERO).await?;
            if !got.is_empty() || std::time::Instant::now() >= until {
                return Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn receive_waiting(&self, wait: Duration) -> Result<Vec<Message>, PumpError> {
        Ok(self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?
            .messages
            .unwrap_or_default())
    }

    /// Deletes the messages the worker did not report as failed.
    pub async fn settle(
        &self,
        messages: &[Message],
        response: &SqsBatchResponse,
    ) -> Result<Round, PumpError> {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await?;
        }
        Ok(Round {
            received: messages.len(),
            failed: failed.len(),
        })
    }

    /// The messages as Lambda delivers them in an SQS event.
    pub fn event(&self, messages: &[Message]) -> Result<SqsEvent, PumpError> {
        let region = self.arn.split(':').nth(3).unwrap_or("us-east-1");
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let attributes: HashMap<&str, &str> = m
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "md5OfBody": m.md5_of_body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": region,
                })
            })
            .collect();
        Ok(serde_json::from_value(json!({ "Records": records }))?)
    }
}
