//! The relay: the table's stream → the events queue. The table is the
//! outbox: a write's only request is its DynamoDB write, and every change of
//! an item's version reaches the queue from here, in stream order, never
//! lost. While SQS fails, the relay reports the first record it could not
//! send (`batchItemFailures` by sequence number), so the shard retries from
//! there: records already sent are not sent again, and none is skipped. A
//! record it cannot map goes to the dead-letter queue as it is, never
//! blocking the shard; one too large for an SQS message goes as a pointer
//! (`"pointer": true`, its keys and stream position). Batches are cut to
//! SQS's limits (ten messages, 256 KiB in all), so no batch is refused
//! for its size, which the shard would retry forever.

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::worker::{BuildMessage, IndexBuild, ScheduleMessage, Step};
use crate::content::ItemRecord;
use crate::error::{Causes, Error};
use crate::event::{events_of_change, Event};
use crate::ids::{CollectionKey, OrgId};
use crate::schedule::{Schedule, ScheduleState};
use crate::store::keys;

/// What one stream record becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// A change of an item's version (or its removal): its event, and one
    /// more when a worker's write changed the live version under a draft
    /// too (`event::events_of_change`).
    Events(Vec<Event>),
    /// Not an event: another kind of record, or a change that kept the
    /// version (a reference counter, bookkeeping).
    Skip,
    /// An item record the relay cannot read; its JSON, for the DLQ.
    Unmappable(String),
    /// A collection's definition changed with indexed fields to build: the
    /// worker's `index_build` job.
    Build(IndexBuild),
    /// A schedule was created (arm it) or cancelled (disarm it).
    Schedule(ScheduleMessage),
}

/// Maps a stream record. Item records (`sk = ITEM`) are events; any
/// removal of one is a purge (TTL, or a test deleting the record). A
/// collection record is a build when its definition changed with fields to
/// build. A schedule record (`SCHED#…`) is armed when created, disarmed
/// when cancelled, and its failure is a `schedule.failed` event. Nothing
/// else is relayed.
pub fn map_record(record: &EventRecord, now: &str) -> Mapped {
    let sk = match record.change.keys.get(keys::SK) {
        Some(serde_dynamo::AttributeValue::S(sk)) => sk.as_str(),
        _ => return Mapped::Skip,
    };
    if sk.starts_with(keys::COLLECTION_PREFIX) {
        return index_build(record).map_or(Mapped::Skip, Mapped::Build);
    }
    if sk.starts_with(keys::SCHEDULE_PREFIX) {
        return schedule_change(record);
    }
    if sk != keys::ITEM_SK {
        return Mapped::Skip;
    }
    let image = |item: &serde_dynamo::Item| -> Result<Option<ItemRecord>, ()> {
        if item.is_empty() {
            return Ok(None);
        }
        serde_dynamo::from_item(item.clone())
            .map(Some)
            .map_err(|_| ())
    };
    let old = image(&record.change.old_image);
    let new = image(&record.change.new_image);
    match (old, new) {
        (Ok(old), Ok(new)) => match events_of_change(old.as_ref(), new.as_ref(), now) {
            events if events.is_empty() => Mapped::Skip,
            events => Mapped::Events(events),
        },
        _ => Mapped::Unmappable(dead_letter(record)),
    }
}

/// The build a collection record's change asks for: one per definition
/// (`updated_at`) that lists fields in `building` (a schema change that
/// indexes a field, or the organization's default locale changing). The
/// build marking them built keeps `updated_at`, so it asks for nothing.
fn index_build(record: &EventRecord) -> Option<IndexBuild> {
    use serde_dynamo::AttributeValue as V;
    let text = |item: &serde_dynamo::Item, name: &str| match item.get(name) {
        Some(V::S(s)) => Some(s.clone()),
        _ => None,
    };
    let new = &record.change.new_image;
    let schema_at = text(new, "updated_at")?;
    let building = matches!(new.get("building"), Some(V::L(fields)) if !fields.is_empty());
    if !building || text(&record.change.old_image, "updated_at").as_ref() == Some(&schema_at) {
        return None;
    }
    let org = text(&record.change.keys, keys::PK)?;
    let collection = text(&record.change.keys, keys::SK)?;
    Some(IndexBuild {
        org: OrgId::parse(org.strip_prefix(keys::ORG_PREFIX)?).ok()?,
        collection: CollectionKey::parse(collection.strip_prefix(keys::COLLECTION_PREFIX)?).ok()?,
        schema_at,
        after: None,
        purge_round: 0,
    })
}

/// What a schedule record's change asks for: created pending, arm it;
/// cancelled, disarm it; failed, its event. A done one was deleted by
/// EventBridge Scheduler as it fired; an expired one (TTL) is nothing.
fn schedule_change(record: &EventRecord) -> Mapped {
    let image = |item: &serde_dynamo::Item| -> Result<Option<Schedule>, ()> {
        if item.is_empty() {
            return Ok(None);
        }
        serde_dynamo::from_item(item.clone())
            .map(Some)
            .map_err(|_| ())
    };
    let (Ok(old), Ok(new)) = (
        image(&record.change.old_image),
        image(&record.change.new_image),
    ) else {
        return Mapped::Unmappable(dead_letter(record));
    };
    let was_pending = old.as_ref().map(|o| o.state) == Some(ScheduleState::Pending);
    match new {
        Some(new) if old.is_none() && new.state == ScheduleState::Pending => {
            Mapped::Schedule(ScheduleMessage::of(&new, Step::Arm))
        }
        Some(new) if was_pending && new.state == ScheduleState::Cancelled => {
            Mapped::Schedule(ScheduleMessage::of(&new, Step::Disarm))
        }
        Some(new) if was_pending && new.state == ScheduleState::Failed => {
            Mapped::Events(vec![Event::schedule_failed(&new)])
        }
        _ => Mapped::Skip,
    }
}

/// SQS's limit on one message's body, and on the bodies of one batch together.
pub const SQS_MAX_BYTES: usize = 256 * 1024;
/// SQS's limit on the messages of one `SendMessageBatch`.
pub const SQS_MAX_ENTRIES: usize = 10;

/// A record for the DLQ: as it is, or, when too large for a message, a
/// pointer to it: its keys and stream position (the item itself can be
/// read from the table), never nothing.
fn dead_letter(record: &EventRecord) -> String {
    match serde_json::to_string(record) {
        Ok(full) if full.len() <= SQS_MAX_BYTES => full,
        _ => serde_json::json!({
            "pointer": true,
            "reason": "The stream record is larger than an SQS message; read the item from the table.",
            "eventName": record.event_name,
            "eventSourceARN": record.event_source_arn,
            "Keys": record.change.keys,
            "SequenceNumber": record.change.sequence_number,
            "ApproximateCreationDateTime": record.change.approximate_creation_date_time,
        })
        .to_string(),
    }
}

/// How many of the next messages (their body sizes, in order) go in one
/// `SendMessageBatch`: at most `SQS_MAX_ENTRIES`, their total within
/// `SQS_MAX_BYTES`, and at least one (none is larger than a message: a
/// dead letter that would be is a pointer).
pub fn batch_len(sizes: impl IntoIterator<Item = usize>) -> usize {
    let mut total = 0;
    let mut n = 0;
    for size in sizes.into_iter().take(SQS_MAX_ENTRIES) {
        if n > 0 && total + size > SQS_MAX_BYTES {
            break;
        }
        total += size;
        n += 1;
    }
    n
}

/// The relay's clients and queues (`FOLIO_QUEUE_URL`, `FOLIO_DLQ_URL`).
#[derive(Debug, Clone)]
pub struct Relay {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
}

/// One message to send, with the stream record it came from.
struct Outgoing {
    sequence: Option<String>,
    queue: Queue,
    body: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Queue {
    Events,
    Dead,
}

impl Relay {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String, dlq_url: String) -> Self {
        Relay {
            sqs,
            queue_url,
            dlq_url,
        }
    }

    /// `FOLIO_QUEUE_URL`, `FOLIO_DLQ_URL`, read as the function starts.
    pub async fn from_env() -> Result<Self, Error> {
        let env = crate::settings::Env::process();
        let queue = env.required("FOLIO_QUEUE_URL")?;
        let dlq = env.required("FOLIO_DLQ_URL")?;
        let sdk = crate::aws::sdk_config().await?;
        Ok(Relay::new(aws_sdk_sqs::Client::new(&sdk), queue, dlq))
    }

    /// Relays one batch of stream records; the response names the first
    /// record not sent, from which the shard retries.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let now = crate::clock::now();
        let mut outgoing = Vec::new();
        for record in &event.records {
            let sequence = record.change.sequence_number.clone();
            match map_record(record, &now) {
                Mapped::Skip => {}
                Mapped::Events(events) => outgoing.extend(events.iter().map(|e| Outgoing {
                    sequence: sequence.clone(),
                    queue: Queue::Events,
                    body: serde_json::to_string(e).unwrap_or_default(),
                })),
                Mapped::Build(build) => outgoing.push(Outgoing {
                    sequence,
                    queue: Queue::Events,
                    body: serde_json::to_string(&BuildMessage { index_build: build })
                        .unwrap_or_default(),
                }),
                Mapped::Schedule(step) => outgoing.push(Outgoing {
                    sequence,
                    queue: Queue::Events,
                    body: serde_json::to_string(&step).unwrap_or_default(),
                }),
                Mapped::Unmappable(json) => {
                    tracing::error!(sequence = ?sequence, "a stream record could not be mapped; sent to the DLQ");
                    outgoing.push(Outgoing {
                        sequence,
                        queue: Queue::Dead,
                        body: json,
                    })
                }
            }
        }
        let mut response = DynamoDbEventResponse::default();
        if let Some(first) = self.send_in_order(&outgoing).await {
            let failed = outgoing[first].sequence.clone();
            tracing::warn!(sequence = ?failed, "relay stopped; the shard retries from this record");
            let mut f = DynamoDbBatchItemFailure::default();
            f.item_identifier = failed;
            response.batch_item_failures.push(f);
        }
        response
    }

    /// Sends events to the events queue in order (replays); how many were
    /// accepted before the first failure.
    pub async fn send_events(&self, events: &[Event]) -> usize {
        let outgoing: Vec<Outgoing> = events
            .iter()
            .map(|e| Outgoing {
                sequence: None,
                queue: Queue::Events,
                body: serde_json::to_string(e).unwrap_or_default(),
            })
            .collect();
        self.send_in_order(&outgoing).await.unwrap_or(events.len())
    }

    /// Sends schedule steps (a replay's re-arming) to the events queue in
    /// order; how many were accepted before the first failure.
    pub async fn send_steps(&self, steps: &[ScheduleMessage]) -> usize {
        let outgoing: Vec<Outgoing> = steps
            .iter()
            .map(|m| Outgoing {
                sequence: None,
                queue: Queue::Events,
                body: serde_json::to_string(m).unwrap_or_default(),
            })
            .collect();
        self.send_in_order(&outgoing).await.unwrap_or(steps.len())
    }

    /// Sends runs of messages to one queue in batches within SQS's limits,
    /// in order; the index of the first message not sent, if any.
    async fn send_in_order(&self, outgoing: &[Outgoing]) -> Option<usize> {
        let mut i = 0;
        while i < outgoing.len() {
            let queue = outgoing[i].queue;
            let run = batch_len(
                outgoing[i..]
                    .iter()
                    .take_while(|o| o.queue == queue)
                    .map(|o| o.body.len()),
            );
            let chunk = &outgoing[i..i + run];
            match self.send_batch(queue, chunk).await {
                Ok(()) => i += run,
                Err(first_failed) => return Some(i + first_failed),
            }
        }
        None
    }

    /// Sends one batch (`batch_len`); on failure, the index of the first
    /// that was not accepted.
    async fn send_batch(&self, queue: Queue, chunk: &[Outgoing]) -> Result<(), usize> {
        let url = match queue {
            Queue::Events => &self.queue_url,
            Queue::Dead => &self.dlq_url,
        };
        let entries: Vec<SendMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&o.body)
                    .build()
                    .ok()
            })
            .collect();
        let out = self
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %Causes(&e), "SendMessageBatch failed");
                0usize
            })?;
        for f in out.failed() {
            tracing::warn!(
                entry = f.id(),
                code = f.code(),
                message = f.message(),
                sender_fault = f.sender_fault(),
                "SendMessageBatch refused a message"
            );
        }
        match out
            .failed()
            .iter()
            .filter_map(|f| f.id().parse::<usize>().ok())
            .min()
        {
            None => Ok(()),
            Some(first) => Err(first),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(
        keys: serde_json::Value,
        old: serde_json::Value,
        new: serde_json::Value,
    ) -> EventRecord {
        serde_json::from_value(json!({
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1795428000.0,
                "Keys": keys, "OldImage": old, "NewImage": new,
                "SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }))
        .unwrap()
    }

    fn image(version: u64, deleted: bool) -> serde_json::Value {
        let mut v = json!({
            "pk": {"S": "ITEM#acme#team#01JF0000000000000000000000"}, "sk": {"S": "ITEM"},
            "org": {"S": "acme"}, "collection": {"S": "team"},
            "id": {"S": "01JF0000000000000000000000"}, "status": {"S": "published"},
            "version": {"N": version.to_string()}, "created_at": {"S": "t"},
            "updated_at": {"S": format!("t{version}")}, "fields": {"M": {"name": {"S": "Ada"}}},
            "restrict_count": {"N": "0"}
        });
        if deleted {
            v["deleted_at"] = json!({"S": "t"});
        }
        v
    }

    fn keys(sk: &str) -> serde_json::Value {
        json!({"pk": {"S": "ITEM#acme#team#01JF0000000000000000000000"}, "sk": {"S": sk}})
    }

    #[test]
    fn a_definition_with_fields_to_build_asks_for_one_build() {
        let keys = json!({"pk": {"S": "ORG#acme"}, "sk": {"S": "COLL#team"}});
        let coll = |at: &str, building: &[&str]| {
            let fields: Vec<_> = building.iter().map(|f| json!({"S": f})).collect();
            json!({"pk": {"S": "ORG#acme"}, "sk": {"S": "COLL#team"}, "key": {"S": "team"},
                   "updated_at": {"S": at}, "building": {"L": fields}})
        };
        let Mapped::Build(b) = map_record(
            &record(keys.clone(), coll("t1", &[]), coll("t2", &["city"])),
            "now",
        ) else {
            panic!("a change indexing a field is a build")
        };
        assert_eq!(
            (b.org.as_str(), b.collection.as_str(), b.schema_at.as_str()),
            ("acme", "team", "t2")
        );
        assert_eq!(b.after, None);
        // A definition created with no field to build, the build marking
        // its fields built (same `updated_at`), or a counter change: nothing.
        for (old, new) in [
            (json!({}), coll("t1", &[])),
            (coll("t2", &["city"]), coll("t2", &[])),
            (coll("t2", &["city"]), coll("t2", &["city"])),
        ] {
            assert_eq!(
                map_record(&record(keys.clone(), old, new), "now"),
                Mapped::Skip
            );
        }
        // Removed: nothing to build.
        assert_eq!(
            map_record(&record(keys, coll("t2", &["city"]), json!({})), "now"),
            Mapped::Skip
        );
    }

    #[test]
    fn item_records_map_to_their_event_and_nothing_else_does() {
        let Mapped::Events(events) = map_record(
            &record(keys("ITEM"), image(1, false), image(2, true)),
            "now",
        ) else {
            panic!()
        };
        let [e] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!((e.kind, e.version), (crate::event::EventType::Delete, 2));
        let Mapped::Events(events) =
            map_record(&record(keys("ITEM"), image(2, true), json!({})), "now")
        else {
            panic!()
        };
        let [e] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!((e.kind, e.version), (crate::event::EventType::Purge, 2));
        // A counter change keeps the version; an edge is no item.
        assert_eq!(
            map_record(
                &record(keys("ITEM"), image(2, false), image(2, false)),
                "now"
            ),
            Mapped::Skip
        );
        assert_eq!(
            map_record(
                &record(
                    keys("REF#team#01JF0000000000000000000001"),
                    json!({}),
                    json!({"pk": {"S": "x"}})
                ),
                "now"
            ),
            Mapped::Skip
        );
        // An item image that does not parse goes to the DLQ as it is.
        let Mapped::Unmappable(raw) = map_record(
            &record(
                keys("ITEM"),
                json!({}),
                json!({"pk": {"S": "x"}, "sk": {"S": "ITEM"}}),
            ),
            "now",
        ) else {
            panic!()
        };
        assert!(raw.contains("\"SequenceNumber\":\"100\""), "{raw}");
        // Too large for an SQS message: keys and position only.
        let huge =
            json!({"pk": {"S": "x"}, "sk": {"S": "ITEM"}, "blob": {"S": "x".repeat(300 * 1024)}});
        let Mapped::Unmappable(raw) = map_record(&record(keys("ITEM"), json!({}), huge), "now")
        else {
            panic!()
        };
        let pointer: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert!(raw.len() < 1024, "{raw}");
        assert_eq!(pointer["pointer"], json!(true), "{raw}");
        assert_eq!(pointer["SequenceNumber"], "100");
        assert_eq!(pointer["eventName"], "MODIFY");
        assert!(pointer["Keys"]["pk"]["S"]
            .as_str()
            .unwrap()
            .starts_with("ITEM#acme"));
        // Up to the limit of a message, the record itself.
        let big =
            json!({"pk": {"S": "x"}, "sk": {"S": "ITEM"}, "blob": {"S": "x".repeat(200 * 1024)}});
        let Mapped::Unmappable(raw) = map_record(&record(keys("ITEM"), json!({}), big), "now")
        else {
            panic!()
        };
        assert!(raw.len() > 200 * 1024 && raw.len() <= SQS_MAX_BYTES);
    }

    fn schedule_image(state: &str) -> serde_json::Value {
        let mut v = json!({
            "pk": {"S": "ITEM#acme#team#01JF0000000000000000000000"},
            "sk": {"S": "SCHED#01JG0000000000000000000000"},
            "id": {"S": "01JG0000000000000000000000"}, "org": {"S": "acme"},
            "collection": {"S": "team"}, "item_id": {"S": "01JF0000000000000000000000"},
            "action": {"S": "publish"}, "at": {"S": "2027-01-04T09:00:00.000000Z"},
            "state": {"S": state}, "created_at": {"S": "2026-12-07T09:00:00.000000Z"},
            "ix_pk": {"S": format!("SCHED#acme#{state}")}
        });
        if state != "pending" {
            v["ended_at"] = json!({"S": "2026-12-07T10:00:00.000000Z"});
        }
        if state == "failed" {
            v["reason"] = json!({"S": "The item no longer validates: body: required"});
        }
        v
    }

    #[test]
    fn a_schedule_is_armed_when_made_disarmed_when_cancelled_and_its_failure_is_an_event() {
        let keys = keys("SCHED#01JG0000000000000000000000");
        let step = |old: serde_json::Value, new: serde_json::Value| match map_record(
            &record(keys.clone(), old, new),
            "now",
        ) {
            Mapped::Schedule(m) => Some(m.schedule.step),
            Mapped::Skip => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(step(json!({}), schedule_image("pending")), Some(Step::Arm));
        let pending = schedule_image("pending");
        assert_eq!(
            step(pending.clone(), schedule_image("cancelled")),
            Some(Step::Disarm)
        );
        assert_eq!(step(pending.clone(), schedule_image("done")), None);
        // Expired by TTL: nothing.
        assert_eq!(step(schedule_image("done"), json!({})), None);
        match map_record(
            &record(keys.clone(), pending, schedule_image("failed")),
            "now",
        ) {
            Mapped::Events(events) => {
                assert_eq!(events.len(), 1);
                let e = &events[0];
                assert_eq!(e.kind, crate::event::EventType::ScheduleFailed);
                let s = e.schedule.as_ref().unwrap();
                assert_eq!(s.id, "01JG0000000000000000000000");
                assert!(s.reason.as_deref().unwrap().contains("body"));
            }
            other => panic!("{other:?}"),
        }
        let broken = json!({"sk": {"S": "SCHED#x"}, "state": {"N": "1"}});
        assert!(matches!(
            map_record(&record(keys, json!({}), broken), "now"),
            Mapped::Unmappable(_)
        ));
    }

    #[test]
    fn batches_stay_within_ten_messages_and_256_kib() {
        const KB: usize = 1024;
        // Small events: ten a batch.
        assert_eq!(batch_len([300; 25]), 10);
        assert_eq!(batch_len([300; 3]), 3);
        // Ten dead letters of 200 KB: one a batch (two would pass 256 KiB).
        assert_eq!(batch_len([200 * KB; 10]), 1);
        // As many as fit, in order, the rest in the next batch.
        assert_eq!(batch_len([100 * KB, 100 * KB, 100 * KB]), 2);
        assert_eq!(batch_len([SQS_MAX_BYTES - 10, 10, 1]), 2);
        assert_eq!(batch_len([10, SQS_MAX_BYTES]), 1);
        // One message at the limit goes alone; none: nothing to send.
        assert_eq!(batch_len([SQS_MAX_BYTES, 1]), 1);
        assert_eq!(batch_len([]), 0);
        // Cutting any sequence this way keeps every batch within limits
        // and sends each message once, in order.
        let sizes: Vec<usize> = (0..200).map(|i| (i * 7919) % (SQS_MAX_BYTES + 1)).collect();
        let mut i = 0;
        while i < sizes.len() {
            let n = batch_len(sizes[i..].iter().copied());
            assert!((1..=SQS_MAX_ENTRIES).contains(&n));
            let total: usize = sizes[i..i + n].iter().sum();
            assert!(total <= SQS_MAX_BYTES, "{total} in {n}");
            i += n;
        }
    }
}
