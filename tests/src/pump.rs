//! The stream pump: what AWS's event source mapping does for the relay,
//! done locally. It reads the table's stream from DynamoDB Local (its
//! Streams API: DescribeStream, GetShardIterator, GetRecords), hands the
//! records to the relay as a real DynamoDB stream event, and keeps every
//! record from the first one the relay reports as failed, to hand it over
//! again: nothing is skipped, nothing already relayed is sent twice.

use std::collections::BTreeMap;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use folio::events::relay::Relay;
use serde_json::json;

pub struct StreamPump {
    streams: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Per shard: the next iterator (None once the shard is closed).
    iterators: BTreeMap<String, Option<String>>,
    /// Records read and not yet accepted by the relay, in stream order.
    pending: Vec<EventRecord>,
}

impl StreamPump {
    /// A pump from the start of `table`'s stream.
    pub async fn new(
        sdk: &folio::app::SdkConfig,
        ddb: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Self {
        let arn = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe the table")
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        StreamPump {
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            arn,
            iterators: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    /// Reads what the stream holds now, every shard.
    async fn read(&mut self) {
        let shards = self
            .streams
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .expect("describe the stream")
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if !self.iterators.contains_key(&id) {
                let it = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("a shard iterator")
                    .shard_iterator;
                self.iterators.insert(id.clone(), it);
            }
        }
        for iterator in self.iterators.values_mut() {
            // A few rounds per shard: GetRecords may answer empty while
            // records follow.
            for _ in 0..4 {
                let Some(it) = iterator.clone() else { break };
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(it)
                    .send()
                    .await
                    .expect("read the stream");
                *iterator = out.next_shard_iterator;
                let records = out.records.unwrap_or_default();
                if records.is_empty() {
                    break;
                }
                self.pending.extend(records.iter().map(lambda_record));
            }
        }
    }

    /// Reads the stream and hands everything pending to the relay, 100
    /// records an invocation as the event source mapping would; stops at
    /// the first batch the relay does not finish. Returns the records the
    /// relay accepted.
    pub async fn pump(&mut self, relay: &Relay) -> usize {
        self.read().await;
        let mut accepted = 0;
        while !self.pending.is_empty() {
            let n = self.pending.len().min(100);
            let batch: Vec<EventRecord> = self.pending[..n].to_vec();
            let mut event = StreamEvent::default();
            event.records = batch;
            let response = relay.handle(event).await;
            match response
                .batch_item_failures
                .first()
                .and_then(|f| f.item_identifier.clone())
            {
                None => {
                    self.pending.drain(..n);
                    accepted += n;
                }
                Some(seq) => {
                    let at = self.pending[..n]
                        .iter()
                        .position(|r| r.change.sequence_number.as_deref() == Some(seq.as_str()))
                        .unwrap_or(0);
                    self.pending.drain(..at);
                    return accepted + at;
                }
            }
        }
        accepted
    }

    /// Records read and not yet relayed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// A stream record as Lambda delivers it in a DynamoDB stream event.
fn lambda_record(r: &Record) -> EventRecord {
    let change = r.dynamodb.as_ref();
    let image = |m: Option<
        &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    >| {
        serde_json::to_value(serde_dynamo::Item::from(m.cloned().unwrap_or_default())).unwrap()
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change
            .and_then(|c| c.approximate_creation_date_time)
            .map_or(0.0, |t| t.as_secs_f64()),
        "Keys": image(change.and_then(|c| c.keys.as_ref())),
        "SequenceNumber": change.and_then(|c| c.sequence_number.clone()),
        "SizeBytes": change.and_then(|c| c.size_bytes).unwrap_or(0),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = change.and_then(|c| c.new_image.as_ref()) {
        dynamodb["NewImage"] = image(Some(new));
    }
    if let Some(old) = change.and_then(|c| c.old_image.as_ref()) {
        dynamodb["OldImage"] = image(Some(old));
    }
    serde_json::from_value(json!({
        "eventID": r.event_id,
        "eventName": r.event_name.as_ref().map(|n| n.as_str().to_owned()),
        "eventVersion": r.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region.clone().unwrap_or_else(|| "us-east-1".into()),
        "dynamodb": dynamodb,
    }))
    .expect("a stream record is a Lambda stream event record")
}
