//! The stream pump: what AWS's event source mapping does for the relay,
//! done locally. It reads the table's stream from DynamoDB Local (its
//! Streams API: DescribeStream, GetShardIterator, GetRecords), hands the
//! records to the relay as a real DynamoDB stream event, and keeps every
//! record from the first one the relay reports as failed, to hand it over
//! again: nothing is skipped, nothing already relayed is sent twice.
//!
//! With a checkpoint file it remembers, per shard, the last record the
//! relay accepted, as the event source mapping does: a pump that is killed
//! and started again resumes after it, handing over again only the batch
//! it was in the middle of (the relay's events are idempotent downstream).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use folio::events::relay::Relay;
use serde_json::{json, Value};

pub type PumpError = Box<dyn std::error::Error + Send + Sync>;

/// Records handed to the relay in one invocation, as the trigger's batch size.
const BATCH: usize = 100;

pub struct StreamPump {
    streams: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Per shard: the next iterator (None once the shard is closed).
    iterators: BTreeMap<String, Option<String>>,
    /// Records read and not yet accepted by the relay, in stream order,
    /// with their shard.
    pending: Vec<(String, EventRecord)>,
    /// Where the last accepted sequence number of each shard is kept.
    checkpoint: Option<PathBuf>,
    /// Per shard: the last sequence number the relay accepted.
    accepted: BTreeMap<String, String>,
}

impl StreamPump {
    /// A pump from the start of `table`'s stream.
    pub async fn new(
        sdk: &folio::app::SdkConfig,
        ddb: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<Self, PumpError> {
        let arn = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or("the table has no stream (made before it had one? delete .folio/ and run make dev again)")?;
        Ok(StreamPump {
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            arn,
            iterators: BTreeMap::new(),
            pending: Vec::new(),
            checkpoint: None,
            accepted: BTreeMap::new(),
        })
    }

    /// Keeps the position in `path` and resumes from the position stored
    /// there, if any.
    pub fn with_checkpoint(mut self, path: impl Into<PathBuf>) -> Result<Self, PumpError> {
        let path = path.into();
        if let Ok(text) = std::fs::read_to_string(&path) {
            self.accepted = serde_json::from_str(&text)?;
        }
        self.checkpoint = Some(path);
        Ok(self)
    }

    fn save_checkpoint(&self) -> Result<(), PumpError> {
        if let Some(path) = &self.checkpoint {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_string(&self.accepted)?)?;
            std::fs::rename(tmp, path)?;
        }
        Ok(())
    }

    /// Marks the first `n` pending records accepted.
    fn accept(&mut self, n: usize) -> Result<(), PumpError> {
        for (shard, record) in self.pending.drain(..n) {
            if let Some(seq) = record.change.sequence_number {
                self.accepted.insert(shard, seq);
            }
        }
        self.save_checkpoint()
    }

    async fn trim_horizon(&self, shard: &str) -> Result<Option<String>, PumpError> {
        Ok(self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator)
    }

    /// Reads what the stream holds now, every shard.
    async fn read(&mut self) -> Result<(), PumpError> {
        let shards = self
            .streams
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await?
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if !self.iterators.contains_key(&id) {
                let it = match self.accepted.get(&id) {
                    Some(seq) => {
                        let after = self
                            .streams
                            .get_shard_iterator()
                            .stream_arn(&self.arn)
                            .shard_id(&id)
                            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                            .sequence_number(seq)
                            .send()
                            .await;
                        match after {
                            Ok(out) => out.shard_iterator,
                            Err(e) => {
                                // A checkpoint from another life of the table.
                                tracing::warn!(error = %e, shard = id, "checkpoint not usable; reading the shard from its start");
                                self.trim_horizon(&id).await?
                            }
                        }
                    }
                    None => self.trim_horizon(&id).await?,
                };
                self.iterators.insert(id, it);
            }
        }
        for (shard, iterator) in self.iterators.iter_mut() {
            // A few rounds per shard: GetRecords may answer empty while
            // records follow.
            for _ in 0..4 {
                let Some(it) = iterator.clone() else { break };
                let out = self.streams.get_records().shard_iterator(it).send().await?;
                *iterator = out.next_shard_iterator;
                let records = out.records.unwrap_or_default();
                if records.is_empty() {
                    break;
                }
                // As the trigger's filter (template.yaml, FilterCriteria):
                // only item, collection and schedule records reach the
                // relay; a count shard's or an edge's change is not an event.
                for r in records.iter().filter(|r| is_relayed(r)) {
                    self.pending.push((shard.clone(), lambda_record(r)?));
                }
            }
        }
        Ok(())
    }

    /// Accepts what the stream holds now without relaying it, as if the
    /// relay had sent it: for tests and benchmarks that load data whose
    /// events they do not want. Returns how many records it skipped.
    pub async fn skip(&mut self) -> Result<usize, PumpError> {
        let mut skipped = 0;
        loop {
            self.read().await?;
            let n = self.pending.len();
            if n == 0 {
                return Ok(skipped);
            }
            self.accept(n)?;
            skipped += n;
        }
    }

    /// Reads the stream and hands everything pending to the relay, `BATCH`
    /// records an invocation; stops at the first batch the relay does not
    /// finish. Returns how many records the relay accepted.
    pub async fn pump(&mut self, relay: &Relay) -> Result<usize, PumpError> {
        self.read().await?;
        let mut accepted = 0;
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            let mut event = StreamEvent::default();
            event.records = self.pending[..n].iter().map(|(_, r)| r.clone()).collect();
            let response = relay.handle(event).await;
            let failed = response
                .batch_item_failures
                .first()
                .and_then(|f| f.item_identifier.clone());
            match failed {
                None => {
                    self.accept(n)?;
                    accepted += n;
                }
                Some(seq) => {
                    let at = self.pending[..n]
                        .iter()
                        .position(|(_, r)| {
                            r.change.sequence_number.as_deref() == Some(seq.as_str())
                        })
                        .unwrap_or(0);
                    self.accept(at)?;
                    return Ok(accepted + at);
                }
            }
        }
        Ok(accepted)
    }

    /// Records read and not yet relayed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// The trigger's three filters: `sk = ITEM`, `pk` `ORG#…` with `sk`
/// `COLL#…`, or `sk` `SCHED#…`.
fn is_relayed(r: &Record) -> bool {
    use folio::store::keys;
    let keys = r.dynamodb.as_ref().and_then(|d| d.keys.as_ref());
    let text = |name: &str| match keys.and_then(|k| k.get(name)) {
        Some(AttributeValue::S(s)) => s.as_str(),
        _ => "",
    };
    let (pk, sk) = (text(keys::PK), text(keys::SK));
    sk == keys::ITEM_SK
        || (pk.starts_with(keys::ORG_PREFIX) && sk.starts_with(keys::COLLECTION_PREFIX))
        || sk.starts_with(keys::SCHEDULE_PREFIX)
}

fn image(m: Option<&HashMap<String, AttributeValue>>) -> Result<Value, PumpError> {
    Ok(serde_json::to_value(serde_dynamo::Item::from(
        m.cloned().unwrap_or_default(),
    ))?)
}

/// A stream record as Lambda delivers it in a DynamoDB stream event.
fn lambda_record(r: &Record) -> Result<EventRecord, PumpError> {
    let change = r.dynamodb.as_ref();
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change
            .and_then(|c| c.approximate_creation_date_time)
            .map_or(0.0, |t| t.as_secs_f64()),
        "Keys": image(change.and_then(|c| c.keys.as_ref()))?,
        "SequenceNumber": change.and_then(|c| c.sequence_number.clone()),
        "SizeBytes": change.and_then(|c| c.size_bytes).unwrap_or(0),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = change.and_then(|c| c.new_image.as_ref()) {
        dynamodb["NewImage"] = image(Some(new))?;
    }
    if let Some(old) = change.and_then(|c| c.old_image.as_ref()) {
        dynamodb["OldImage"] = image(Some(old))?;
    }
    Ok(serde_json::from_value(json!({
        "eventID": r.event_id,
        "eventName": r.event_name.as_ref().map(|n| n.as_str().to_owned()),
        "eventVersion": r.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region.clone().unwrap_or_else(|| "us-east-1".into()),
        "dynamodb": dynamodb,
    }))?)
}
