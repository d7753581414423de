//! Change events: one per accepted write, sent to the SQS queue for the
//! background worker. Shape: `{event_id, org, collection, item_id, version, type}`.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

use crate::content::Status;
use crate::error::Error;
use crate::ids::{CollectionKey, ItemId, OrgId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "collectionitem.draft")]
    Draft,
    #[serde(rename = "collectionitem.published")]
    Published,
    #[serde(rename = "collectionitem.unpublished")]
    Unpublished,
    #[serde(rename = "collectionitem.delete")]
    Delete,
    #[serde(rename = "collectionitem.restore")]
    Restore,
}

impl EventType {
    /// The event for a write that leaves an item in `new` status, having
    /// been in `old` (None: the item is new).
    pub fn for_write(old: Option<Status>, new: Status) -> Self {
        match (old, new) {
            (_, Status::Published) => EventType::Published,
            (Some(Status::Published), Status::Draft) => EventType::Unpublished,
            (_, Status::Draft) => EventType::Draft,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per write; the worker's idempotency key and the webhook id.
    pub event_id: String,
    pub org: OrgId,
    pub collection: CollectionKey,
    pub item_id: ItemId,
    pub version: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
}

impl Event {
    pub fn new(
        org: &OrgId,
        collection: &CollectionKey,
        item_id: ItemId,
        version: u64,
        kind: EventType,
    ) -> Self {
        Event {
            event_id: ulid::Ulid::new().to_string(),
            org: org.clone(),
            collection: collection.clone(),
            item_id,
            version,
            kind,
        }
    }
}

/// Sends events to the queue: one `SendMessage` for one event, batches of
/// ten for more.
#[derive(Debug, Clone)]
pub struct Publisher {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Publisher {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Publisher { sqs, queue_url }
    }

    pub async fn publish(&self, events: &[Event]) -> Result<(), Error> {
        if let [event] = events {
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body(event))
                .send()
                .await
                .map_err(Error::internal)?;
            return Ok(());
        }
        // Batches go out together: a 100-item batch delete waits for one
        // SQS round trip, not ten.
        let sends = events.chunks(10).map(|chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body(e))
                        .build()
                        .map_err(Error::internal)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(Error::internal)?;
            if out.failed().is_empty() {
                Ok(())
            } else {
                Err(Error::internal(format!(
                    "{} events were not queued",
                    out.failed().len()
                )))
            }
        });
        futures::future::try_join_all(sends).await?;
        Ok(())
    }
}

fn body(event: &Event) -> String {
    serde_json::to_string(event).expect("events serialize")
}

/// Creates the events queue and its dead-letter queue when missing (the
/// admin CLI and tests; `template.yaml` declares the same pair). Returns
/// both URLs. Like the template: a message goes to the DLQ after 5 receives.
pub async fn ensure_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), Error> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(Error::internal)?
        .queue_url
        .ok_or_else(|| Error::internal("no DLQ url"))?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(Error::internal)?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| Error::internal("no DLQ arn"))?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "60")
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(Error::internal)?
        .queue_url
        .ok_or_else(|| Error::internal("no queue url"))?;
    Ok((queue, dlq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_pick_the_event_type() {
        assert_eq!(EventType::for_write(None, Status::Draft), EventType::Draft);
        assert_eq!(
            EventType::for_write(Some(Status::Draft), Status::Published),
            EventType::Published
        );
        assert_eq!(
            EventType::for_write(Some(Status::Published), Status::Draft),
            EventType::Unpublished
        );
        assert_eq!(
            EventType::for_write(Some(Status::Published), Status::Published),
            EventType::Published
        );
    }

    #[test]
    fn events_serialize_in_the_documented_shape() {
        let e = Event::new(
            &OrgId::parse("acme").unwrap(),
            &CollectionKey::parse("team").unwrap(),
            ItemId::new(),
            2,
            EventType::Delete,
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "collectionitem.delete");
        assert_eq!(v["version"], 2);
        for k in ["event_id", "org", "collection", "item_id"] {
            assert!(v[k].is_string(), "{k}");
        }
    }
}
