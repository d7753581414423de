//! Change events: one per change of an item's content or state, sent to
//! the SQS queue for the background worker. Shape:
//! `{event_id, org, collection, item_id, version, type, occurred_at, state}`.
//! `event_id` is derived from the item, its version and the type, so every
//! stage (relay, worker, webhook receivers) can deduplicate on it, and
//! `from_change` derives an event from an item's state before and after.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::content::{ItemRecord, State};
use crate::ids::{CollectionKey, ItemId, OrgId};
use crate::schedule::Schedule;

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
    /// The retention period ended and the deleted item is gone for good.
    #[serde(rename = "collectionitem.purge")]
    Purge,
    /// A schedule could not run (`schedule`): the event names it and why.
    /// Not part of `collectionitem.*`: an endpoint names it to get it.
    #[serde(rename = "schedule.failed")]
    ScheduleFailed,
}

impl EventType {
    /// The event for a write that leaves an item in state `new`, having
    /// been in `old` (None: the item is new): a draft saved over a live
    /// item is a draft, not an unpublish; only leaving the live site is.
    pub fn for_write(old: Option<State>, new: State) -> Self {
        match (old, new) {
            (_, State::Published) => EventType::Published,
            (Some(old), State::Draft) if old.is_live() => EventType::Unpublished,
            (_, State::Draft | State::PublishedWithDraft) => EventType::Draft,
        }
    }
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Draft => "collectionitem.draft",
            EventType::Published => "collectionitem.published",
            EventType::Unpublished => "collectionitem.unpublished",
            EventType::Delete => "collectionitem.delete",
            EventType::Restore => "collectionitem.restore",
            EventType::Purge => "collectionitem.purge",
            EventType::ScheduleFailed => "schedule.failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Derived from org, collection, item, version and type: the same
    /// change always has the same id (the worker's idempotency key).
    pub event_id: String,
    pub org: OrgId,
    pub collection: CollectionKey,
    pub item_id: ItemId,
    pub version: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change happened (the item's `updated_at`; a purge: when seen).
    #[serde(default)]
    pub occurred_at: String,
    /// The item's state after the change (`content::State`); absent on
    /// events queued before states existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// A `schedule.failed` event's schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Box<Schedule>>,
}

/// The event id of a change: stable across retries and replays.
pub fn event_id(
    org: &OrgId,
    collection: &CollectionKey,
    item_id: ItemId,
    version: u64,
    kind: EventType,
) -> String {
    let key = format!("{org}#{collection}#{item_id}#{version}#{}", kind.as_str());
    hex::encode(Sha256::digest(key.as_bytes()))[..32].to_owned()
}

/// The event of an item's change from `old` to `new` (None: absent), or
/// None when the change is not an event (the version did not move: a
/// reference counter, a job's bookkeeping). A removal is a purge, keeping
/// the version of the delete.
pub fn from_change(old: Option<&ItemRecord>, new: Option<&ItemRecord>, now: &str) -> Option<Event> {
    let (item, kind, at) = match (old, new) {
        (None, None) => return None,
        (Some(old), None) => (old, EventType::Purge, now.to_owned()),
        (None, Some(new)) => (
            new,
            EventType::for_write(None, new.status),
            new.updated_at.clone(),
        ),
        (Some(old), Some(new)) => {
            if old.version == new.version {
                return None;
            }
            let kind = match (old.deleted_at.is_some(), new.deleted_at.is_some()) {
                (false, true) => EventType::Delete,
                (true, false) => EventType::Restore,
                _ => EventType::for_write(Some(old.status), new.status),
            };
            (new, kind, new.updated_at.clone())
        }
    };
    let mut e = Event::new(&item.org, &item.collection, item.id, item.version, kind);
    e.occurred_at = at;
    e.state = Some(item.status);
    Some(e)
}

/// The events of an item's change from `old` to `new`: its event
/// (`from_change`), and, when a write changed the live version of an item
/// that keeps a draft over it (the worker's detach cleanup or media
/// rewrite change both), a `published` event too, one per changed view.
pub fn events_of_change(
    old: Option<&ItemRecord>,
    new: Option<&ItemRecord>,
    now: &str,
) -> Vec<Event> {
    let Some(first) = from_change(old, new, now) else {
        return Vec::new();
    };
    let live_moved = match (old, new) {
        (Some(o), Some(n)) => {
            o.status == State::PublishedWithDraft
                && n.status == State::PublishedWithDraft
                && first.kind == EventType::Draft
                && o.live != n.live
        }
        _ => false,
    };
    let mut out = vec![first];
    if let (true, Some(n)) = (live_moved, new) {
        let mut e = Event::new(&n.org, &n.collection, n.id, n.version, EventType::Published);
        e.occurred_at = n.updated_at.clone();
        e.state = Some(n.status);
        out.push(e);
    }
    out
}

/// The event that describes an item as it is now (a replay): deleted,
/// published or draft, at its current version. For an item whose last
/// change was of that type it is the very event that change made (same
/// `event_id`), so jobs that already ran for it do not run again.
pub fn current_state(item: &ItemRecord) -> Event {
    let kind = if item.deleted_at.is_some() {
        EventType::Delete
    } else {
        EventType::for_write(None, item.status)
    };
    let mut e = Event::new(&item.org, &item.collection, item.id, item.version, kind);
    e.occurred_at = item.updated_at.clone();
    e.state = Some(item.status);
    e
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
            event_id: event_id(org, collection, item_id, version, kind),
            org: org.clone(),
            collection: collection.clone(),
            item_id,
            version,
            kind,
            occurred_at: crate::clock::now(),
            state: None,
            schedule: None,
        }
    }

    /// The `schedule.failed` event of `schedule` (failed): its id is the
    /// schedule's, so every stage deduplicates it.
    pub fn schedule_failed(schedule: &Schedule) -> Self {
        let key = format!("schedule#{}#failed", schedule.id);
        Event {
            event_id: hex::encode(Sha256::digest(key.as_bytes()))[..32].to_owned(),
            org: schedule.org.clone(),
            collection: schedule.collection.clone(),
            item_id: schedule.item_id,
            version: 0,
            kind: EventType::ScheduleFailed,
            occurred_at: schedule.ended_at.clone().unwrap_or_default(),
            state: None,
            schedule: Some(Box::new(schedule.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_pick_the_event_type() {
        assert_eq!(EventType::for_write(None, State::Draft), EventType::Draft);
        assert_eq!(
            EventType::for_write(Some(State::Draft), State::Published),
            EventType::Published
        );
        assert_eq!(
            EventType::for_write(Some(State::Published), State::Draft),
            EventType::Unpublished
        );
        assert_eq!(
            EventType::for_write(Some(State::Published), State::Published),
            EventType::Published
        );
        // A draft over a live item does not unpublish; leaving the site does.
        let with_draft = State::PublishedWithDraft;
        assert_eq!(
            EventType::for_write(Some(State::Published), with_draft),
            EventType::Draft
        );
        assert_eq!(
            EventType::for_write(Some(with_draft), with_draft),
            EventType::Draft
        );
        assert_eq!(
            EventType::for_write(Some(with_draft), State::Published),
            EventType::Published
        );
        assert_eq!(
            EventType::for_write(Some(with_draft), State::Draft),
            EventType::Unpublished
        );
    }

    fn item(version: u64, status: State, deleted: bool) -> ItemRecord {
        ItemRecord {
            org: OrgId::parse("acme").unwrap(),
            collection: CollectionKey::parse("team").unwrap(),
            id: ItemId::parse("01JF0000000000000000000000").unwrap(),
            status,
            version,
            created_at: "t0".into(),
            updated_at: format!("t{version}"),
            fields: Default::default(),
            live: None,
            newest_version: None,
            deleted_at: deleted.then(|| "t".to_owned()),
            expires_at: None,
            out_refs: Vec::new(),
            restrict_count: 0,
            write_token: None,
            media_status: Default::default(),
            pending_publish: None,
            pending_unpublish: None,
        }
    }

    #[test]
    fn every_change_of_version_is_one_event_and_nothing_else_is() {
        use State::{Draft, Published};
        let kind = |old: Option<ItemRecord>, new: Option<ItemRecord>| {
            from_change(old.as_ref(), new.as_ref(), "now").map(|e| (e.kind, e.version))
        };
        assert_eq!(
            kind(None, Some(item(1, Draft, false))),
            Some((EventType::Draft, 1))
        );
        assert_eq!(
            kind(None, Some(item(1, Published, false))),
            Some((EventType::Published, 1))
        );
        assert_eq!(
            kind(Some(item(1, Published, false)), Some(item(2, Draft, false))),
            Some((EventType::Unpublished, 2))
        );
        assert_eq!(
            kind(Some(item(2, Draft, false)), Some(item(3, Draft, true))),
            Some((EventType::Delete, 3))
        );
        assert_eq!(
            kind(Some(item(3, Draft, true)), Some(item(4, Draft, false))),
            Some((EventType::Restore, 4))
        );
        assert_eq!(
            kind(Some(item(3, Draft, true)), None),
            Some((EventType::Purge, 3))
        );
        // A counter or bookkeeping change keeps the version: no event.
        assert_eq!(
            kind(Some(item(2, Draft, false)), Some(item(2, Draft, false))),
            None
        );
        assert_eq!(kind(None, None), None);
    }

    #[test]
    fn a_write_changing_both_versions_is_an_event_per_view() {
        use crate::content::{Live, Status};
        let mut old = item(3, State::PublishedWithDraft, false);
        old.live = Some(Live {
            version: 2,
            updated_at: "t2".into(),
            fields: Default::default(),
            out_refs: vec!["people#X#boss#detach".into()],
        });
        let mut both = item(4, State::PublishedWithDraft, false);
        both.live = old.live.clone().map(|l| Live {
            out_refs: Vec::new(),
            ..l
        });
        let kinds = |new: &ItemRecord| {
            events_of_change(Some(&old), Some(new), "now")
                .into_iter()
                .map(|e| (e.kind, e.version))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(&both),
            vec![(EventType::Draft, 4), (EventType::Published, 4)]
        );
        // A draft edit leaves the live version as it was: one event.
        let mut draft_only = both.clone();
        draft_only.live = old.live.clone();
        assert_eq!(kinds(&draft_only), vec![(EventType::Draft, 4)]);
        let published = old.written(Some(Status::Published), Default::default(), vec![], "t5");
        assert_eq!(kinds(&published), vec![(EventType::Published, 4)]);
    }

    #[test]
    fn event_ids_are_stable_per_change_and_distinct_across_changes() {
        let a = from_change(None, Some(&item(1, State::Draft, false)), "now").unwrap();
        let b = from_change(None, Some(&item(1, State::Draft, false)), "later").unwrap();
        assert_eq!(a.event_id, b.event_id);
        let c = from_change(
            Some(&item(1, State::Draft, false)),
            Some(&item(2, State::Published, false)),
            "now",
        )
        .unwrap();
        assert_ne!(a.event_id, c.event_id);
        let purge = from_change(Some(&item(2, State::Draft, true)), None, "now").unwrap();
        let delete = from_change(
            Some(&item(1, State::Draft, false)),
            Some(&item(2, State::Draft, true)),
            "now",
        )
        .unwrap();
        assert_eq!(purge.version, delete.version);
        assert_ne!(
            purge.event_id, delete.event_id,
            "a purge keeps the version but is its own event"
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
        for k in ["event_id", "org", "collection", "item_id", "occurred_at"] {
            assert!(v[k].is_string(), "{k}");
        }
    }
}
