//! Webhooks: endpoints an organization registers, the payload they get,
//! and how one delivery is signed and sent (docs/design.md §9).
//!
//! - Payload: ButterCMS's shape (`data`, `webhook`), plus `version` and
//!   `event_id` in `data` so receivers can order and deduplicate.
//! - Signed per Standard Webhooks on every attempt: `webhook-id` is derived
//!   from the event and the endpoint (the same on every retry, different
//!   for each endpoint), `webhook-timestamp` is the attempt's time, and
//!   `webhook-signature` signs `id.timestamp.body` with the endpoint's
//!   secret (and, for a day after a rotation, with the previous one too).
//! - Outcome: a 2xx delivers; `410 Gone` disables the endpoint; anything
//!   else (3xx included: redirects are not followed), a timeout or a
//!   connection error is a failure, retried by the deliveries queue.

pub mod secret;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::event::{Event, EventType};
use crate::ids::{CollectionKey, WebhookId};
pub use secret::{Secret, SecretKey};

/// Every event type: what `collectionitem.*` stands for.
pub const ALL_EVENTS: &str = "collectionitem.*";
/// The ping `POST …/test/` sends.
pub const TEST_EVENT: &str = "webhook.test";
pub const MAX_URL: usize = 2048;
pub const MAX_COLLECTIONS: usize = 50;
/// Event types an endpoint may name: each of them once, and `collectionitem.*`.
pub const MAX_EVENTS: usize = 8;
/// After a rotation, deliveries are signed with the old secret too for
/// this long, so receivers can switch without missing one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The body of `PUT /v2/webhooks/{webhook_id}/`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// https (http only where the address allow-list is set), at most 2,048 characters.
    #[schema(max_length = 2048)]
    pub url: String,
    /// Event types (`collectionitem.published`, …) or `collectionitem.*`.
    #[schema(min_items = 1, max_items = 8)]
    pub events: Vec<String>,
    /// Only these collections' events (absent or null: all).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 50)]
    pub collections: Option<Vec<String>>,
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

fn enabled_default() -> bool {
    true
}

/// A registered endpoint, as stored (the secret sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub org: crate::ids::OrgId,
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub collections: Option<Vec<CollectionKey>>,
    pub enabled: bool,
    /// Why Folio turned it off (a `410 Gone`), if it did.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until`.
    #[serde(default)]
    pub previous_secret: Option<String>,
    #[serde(default)]
    pub previous_until: Option<i64>,
    /// New with each creation: names the deliveries log's partition.
    #[serde(default)]
    pub log_id: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Webhook {
    /// Whether `event` is one this endpoint asked for.
    pub fn wants(&self, event: &Event) -> bool {
        let kind = event.kind.as_str();
        self.enabled
            && self.events.iter().any(|e| e == ALL_EVENTS || e == kind)
            && self
                .collections
                .as_ref()
                .is_none_or(|c| c.contains(&event.collection))
    }

    /// The associated data its secrets are sealed with.
    pub fn seal_context(&self) -> String {
        seal_context(&self.org, &self.id)
    }
}

pub fn seal_context(org: &crate::ids::OrgId, id: &WebhookId) -> String {
    format!("{org}#{id}")
}

/// The `webhook-id` of `event` at `endpoint`: stable across retries,
/// distinct per endpoint. It is also the delivery's id in the API.
pub fn delivery_id(event_id: &str, endpoint: &WebhookId) -> String {
    let h = Sha256::digest(format!("{event_id}#{endpoint}").as_bytes());
    format!("msg_{}", &hex::encode(h)[..32])
}

/// The body a receiver gets for `event`.
pub fn payload(event: &Event, target: &str) -> Value {
    let status = match event.kind {
        EventType::Draft | EventType::Unpublished => "draft",
        EventType::Published => "published",
        EventType::Delete | EventType::Purge => "deleted",
        EventType::Restore => "restored",
        EventType::ScheduleFailed => "schedule_failed",
    };
    let mut body = json!({
        "data": {
            "id": event.collection,
            "itemid": crate::content::item_link(&event.collection, &event.item_id.to_string()),
            "timestamp": event.occurred_at,
            "locale": null,
            "status": status,
            "state": event.state,
            "version": event.version,
            "event_id": event.event_id,
        },
        "webhook": { "event": event.kind.as_str(), "target": target },
    });
    if let Some(s) = &event.schedule {
        body["data"]["schedule"] = json!({
            "id": s.id, "action": s.action, "at": s.at, "state": s.state, "reason": s.reason,
        });
    }
    body
}

#[cfg(test)]
mod tests {
    use super::testing::hook;
    use super::*;
    use crate::ids::{ItemId, OrgId};

    fn event(kind: EventType) -> Event {
        let mut e = Event::new(
            &OrgId::parse("acme").unwrap(),
            &CollectionKey::parse("team").unwrap(),
            ItemId::parse("01JF0000000000000000000000").unwrap(),
            4,
            kind,
        );
        e.occurred_at = "2026-11-29T00:00:00.000000Z".into();
        e
    }

    #[test]
    fn the_payload_is_butters_with_version_and_event_id() {
        let mut e = event(EventType::Delete);
        e.state = Some(crate::content::State::PublishedWithDraft);
        let p = payload(&e, "https://example.com/hook");
        assert_eq!(
            p,
            json!({
                "data": {
                    "id": "team",
                    "itemid": "/v2/content/?keys=team[_id=01JF0000000000000000000000]",
                    "timestamp": "2026-11-29T00:00:00.000000Z",
                    "locale": null,
                    "status": "deleted",
                    "state": "published_with_draft",
                    "version": 4,
                    "event_id": e.event_id,
                },
                "webhook": {"event": "collectionitem.delete", "target": "https://example.com/hook"},
            })
        );
    }

    #[test]
    fn delivery_ids_are_stable_per_event_and_distinct_per_endpoint() {
        let a = WebhookId::parse("a").unwrap();
        let b = WebhookId::parse("b").unwrap();
        assert_eq!(delivery_id("e1", &a), delivery_id("e1", &a));
        assert_ne!(delivery_id("e1", &a), delivery_id("e1", &b));
        assert_ne!(delivery_id("e1", &a), delivery_id("e2", &a));
        assert!(delivery_id("e1", &a).starts_with("msg_"));
    }

    #[test]
    fn endpoints_match_on_type_and_collection() {
        let key = SecretKey::parse(&SecretKey::generate_b64()).unwrap();
        let mut h = hook(&key, &Secret::generate());
        assert!(h.wants(&event(EventType::Published)));
        assert!(!h.wants(&event(EventType::Delete)));
        h.events = vec![ALL_EVENTS.into()];
        assert!(h.wants(&event(EventType::Delete)));
        h.collections = Some(vec![CollectionKey::parse("posts").unwrap()]);
        assert!(!h.wants(&event(EventType::Delete)));
        h.collections = None;
        h.enabled = false;
        assert!(!h.wants(&event(EventType::Delete)));
    }
}

/// What the webhook modules' tests share (here and in the application's
/// `webhooks::send`). Not behind a feature: a feature the tests turn on
/// would make cargo build this crate, and all above it, twice in one run.
#[doc(hidden)]
pub mod testing {
    use super::*;
    use crate::ids::OrgId;

    /// An endpoint of `acme` holding `secret`, sealed with `key`.
    pub fn hook(key: &SecretKey, secret: &Secret) -> Webhook {
        let org = OrgId::parse("acme").unwrap();
        let id = WebhookId::parse("site-build").unwrap();
        Webhook {
            secret: key.seal(secret, &seal_context(&org, &id)),
            org,
            id,
            url: "https://example.com/hook".into(),
            events: vec!["collectionitem.published".into()],
            collections: None,
            enabled: true,
            disabled_reason: None,
            previous_secret: None,
            previous_until: None,
            log_id: "l".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }
}
