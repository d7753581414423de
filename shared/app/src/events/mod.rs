//! The background pipeline: the stream relay (`relay`), the events
//! queue's worker (`worker`) and the webhook deliverer (`deliver`), with
//! what they share: a batch's per-message handling, DLQ re-drive and the
//! queues' settings. The events themselves are `crate::event`.

pub mod deliver;
pub mod relay;
pub mod worker;

use crate::error::{Causes, Error};

/// Runs `handle` on every message of an SQS batch, at most `concurrency`
/// at once, each succeeding or failing on its own; the response names the
/// messages not done (`batchItemFailures`), so only those come back. A
/// failure `routine` accepts (a job busy elsewhere, a receiver to retry) is
/// logged as information, any other as an error, with its causes (an
/// internal error's own text says only "Internal error").
pub(crate) async fn each_message<E, Fut>(
    event: aws_lambda_events::event::sqs::SqsEvent,
    concurrency: usize,
    handle: impl Fn(aws_lambda_events::event::sqs::SqsMessage) -> Fut,
    routine: impl Fn(&E) -> bool,
) -> aws_lambda_events::event::sqs::SqsBatchResponse
where
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    use futures::stream::{self, StreamExt};
    let outcomes: Vec<(String, Result<(), E>)> = stream::iter(event.records)
        .map(|m| {
            let id = m.message_id.clone().unwrap_or_default();
            let done = handle(m);
            async move { (id, done.await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if let Err(e) = outcome {
            if routine(&e) {
                tracing::info!(message_id = %id, reason = %Causes(&e), "message not done; retried later");
            } else {
                tracing::error!(message_id = %id, error = %Causes(&e), "message failed");
            }
            response.add_failure(id);
        }
    }
    response
}

/// Moves every message of `from` (a dead-letter queue) to `to`, as it is;
/// returns how many moved. A message is deleted from `from` only once `to`
/// has accepted it.
pub async fn redrive(sqs: &aws_sdk_sqs::Client, from: &str, to: &str) -> Result<usize, Error> {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
    let mut moved = 0;
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(Error::internal)?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body().unwrap_or_default())
                    .build()
                    .map_err(Error::internal)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = sqs
            .send_message_batch()
            .queue_url(to)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(Error::internal)?;
        let accepted: Vec<DeleteMessageBatchRequestEntry> = sent
            .successful()
            .iter()
            .filter_map(|ok| {
                let m = messages.get(ok.id().parse::<usize>().ok()?)?;
                DeleteMessageBatchRequestEntry::builder()
                    .id(ok.id())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        moved += accepted.len();
        if !accepted.is_empty() {
            sqs.delete_message_batch()
                .queue_url(from)
                .set_entries(Some(accepted))
                .send()
                .await
                .map_err(Error::internal)?;
        }
        if !sent.failed().is_empty() {
            return Err(Error::internal(format!(
                "{} messages were not accepted by the queue; they stay in the DLQ",
                sent.failed().len()
            )));
        }
    }
}

/// How the events queue hands out messages (`template.yaml` declares the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// How long a received message stays hidden: at least six times the
    /// worker's timeout (60 s), as AWS advises for a Lambda trigger.
    pub visibility_timeout_secs: u32,
    /// Receives before a message goes to the dead-letter queue.
    pub max_receive_count: u32,
}

impl QueueSettings {
    /// The deliveries queue's (`template.yaml`): hidden 6x the deliverer's
    /// 15 s timeout; 12 receives, spaced by the deliverer's backoff.
    pub fn deliveries() -> Self {
        QueueSettings {
            visibility_timeout_secs: 90,
            max_receive_count: crate::events::deliver::MAX_RECEIVES,
        }
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility_timeout_secs: 360,
            max_receive_count: 5,
        }
    }
}

/// Creates the events queue and its dead-letter queue when missing (the
/// admin CLI and tests; `template.yaml` declares the same pair). Returns
/// both URLs.
pub async fn ensure_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), Error> {
    ensure_queues_with(sqs, name, QueueSettings::default()).await
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, Error> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .map_err(Error::internal)?
        .attributes
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .ok_or_else(|| Error::internal("a queue without an ARN"))
}

/// Creates the EventBridge Scheduler schedule group `name` if missing
/// (locally: moto refuses a schedule in a group it does not know; on AWS
/// the template creates it).
pub async fn ensure_schedule_group(
    scheduler: &aws_sdk_scheduler::Client,
    name: &str,
) -> Result<(), Error> {
    match scheduler.create_schedule_group().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::internal(
            aws_sdk_scheduler::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

/// The role schedules send as, where no IAM exists (moto does not check it).
pub const LOCAL_SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/folio-scheduler";

pub async fn ensure_queues_with(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    settings: QueueSettings,
) -> Result<(String, String), Error> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq = create_queue(
        sqs,
        &format!("{name}-dlq"),
        vec![(A::MessageRetentionPeriod, "1209600".into())],
    )
    .await?;
    let dlq_arn = queue_arn(sqs, &dlq).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": settings.max_receive_count.to_string(),
    })
    .to_string();
    let queue = create_queue(
        sqs,
        name,
        vec![
            (
                A::VisibilityTimeout,
                settings.visibility_timeout_secs.to_string(),
            ),
            (A::RedrivePolicy, redrive),
        ],
    )
    .await?;
    Ok((queue, dlq))
}

/// Creates a queue with `attributes`, or brings an existing one to them
/// (SQS refuses to "create" an existing queue with other attributes).
async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: Vec<(aws_sdk_sqs::types::QueueAttributeName, String)>,
) -> Result<String, Error> {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.iter().cloned().collect()))
        .send()
        .await;
    match created {
        Ok(out) => out.queue_url.ok_or_else(|| Error::internal("no queue url")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_name_exists()) =>
        {
            let url = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(Error::internal)?
                .queue_url
                .ok_or_else(|| Error::internal("no queue url"))?;
            sqs.set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attributes.into_iter().collect()))
                .send()
                .await
                .map_err(Error::internal)?;
            Ok(url)
        }
        Err(e) => Err(Error::internal(e)),
    }
}
