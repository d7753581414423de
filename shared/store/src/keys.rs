//! Every DynamoDB key Folio writes is built here, and nowhere else.
//!
//! | record          | pk                              | sk              |
//! |-----------------|---------------------------------|-----------------|
//! | organization    | `ORG#<org>`                     | `ORG`           |
//! | collection      | `ORG#<org>`                     | `COLL#<key>`    |
//! | API token       | `TOKEN#<sha256 hex>`            | `TOKEN`         |
//! | item            | `ITEM#<org>#<collection>#<id>`  | `ITEM`          |
//! | idempotency key | `IDEM#<token hash>#<key>`       | `IDEM`          |
//! | reference edge  | the target item's pk            | `REF#<referrer collection>#<referrer id>` |
//! | count shard     | `COUNT#<org>#<collection>`      | `SHARD#<nn>`    |
//! | index entry     | the item's pk                   | `IDX#<field>` (`LIVE#IDX#<field>`: the live version's) |
//! | live listing    | the item's pk                   | `LIVE` (an item with a draft: the published view's entry) |
//! | version         | the item's pk                   | `VER#<20-digit version>` |
//! | schedule        | the item's pk                   | `SCHED#<schedule id>` |
//! | value count     | `VCOUNT#<entries' ix_pk>`       | `<encoded value>#<nn>` |
//! | job record      | `JOB#<event id>`                | `JOB#<job>`     |
//! | webhook endpoint| `ORG#<org>`                     | `WEBHOOK#<id>`  |
//! | endpoint count  | `ORG#<org>`                     | `WEBHOOKS`      |
//! | webhook attempt | `WHLOG#<org>#<webhook id>#<log id>` | `ATTEMPT#<ulid>` |
//! | webhook delivery| `WHLOG#<org>#<webhook id>#<log id>` | `DELIVERY#<delivery id>` |
//!
//! Items get a partition each, so writes to different items never contend.
//! An item's partition also holds the edges of the items that reference it
//! (one per referrer, whatever the number), so its referrers are one Query;
//! an edge holding a `restrict` field is also listed by `by_field` under
//! `restrict_holders(<target pk>)`, so those are one Query too.
//! Live items carry `live_pk = <org>#<collection>` / `live_sk = <id>` (the
//! sparse `live` index lists them in creation order); a soft delete removes
//! those and sets `trash_pk` / `trash_sk = <deleted_at>#<id>` (the `trash` index).
//!
//! Listings page in DynamoDB through two keys-only indexes of live items,
//! `by_created` (`vis_pk`, `cr_sk = <id>`) and `by_updated` (`vis_pk`,
//! `up_sk = <updated_at>#<id>`), where `vis_pk = <org>#<collection>#<p|d|l>`
//! names the views that list the entry (`Side`): a published listing
//! merges `p` and `l`, a preview `p` and `d`. An item's count is kept in
//! `COUNT#<org>#<collection>` / `SHARD#<nn>` (see `store::pages`).
//!
//! An indexed field's value is an entry item in the item's partition,
//! listed by the keys-only `by_field` index: `ix_pk =
//! <org>#<collection>#<field>#<p|d>`, `ix_sk = <encoded value>#<id>`
//! (see `store::entries`). One index serves every indexed field. How many
//! entries hold a value is kept in `VCOUNT#<ix_pk>` / `<encoded value>#<nn>`
//! shards, written with the entries (`store::commit::ops::wire`).
//!
//! A schedule (`store::schedules`) is listed by `by_created` under
//! `vis_pk = SCHED#<org>` (every state) and by `by_field` under `ix_pk =
//! SCHED#<org>#<state>`, both with sort key `<at>#<schedule id>`: an
//! organization's schedules in time order, all or in one state.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

use folio_core::content::State;
use folio_core::ids::{CollectionKey, ItemId, OrgId, WebhookId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const LIVE_INDEX: &str = "live";
pub const TRASH_INDEX: &str = "trash";
/// Index attributes (the `live` and `trash` indexes' keys).
pub const LIVE_PK: &str = "live_pk";
pub const LIVE_SK: &str = "live_sk";
pub const TRASH_PK: &str = "trash_pk";
pub const TRASH_SK: &str = "trash_sk";
pub const ITEM_SK: &str = "ITEM";
/// The keys-only listing indexes (`store::pages`) and their attributes.
pub const CREATED_INDEX: &str = "by_created";
pub const UPDATED_INDEX: &str = "by_updated";
pub const VIS_PK: &str = "vis_pk";
pub const CR_SK: &str = "cr_sk";
pub const UP_SK: &str = "up_sk";
/// The keys-only index of indexed fields' entries (`store::entries`).
pub const FIELD_INDEX: &str = "by_field";
pub const IX_PK: &str = "ix_pk";
pub const IX_SK: &str = "ix_sk";
/// On an entry: its value count holds it.
pub const COUNTED: &str = "counted";
pub const ENTRY_PREFIX: &str = "IDX#";
pub const LIVE_LISTING_SK: &str = "LIVE";
pub const VERSION_PREFIX: &str = "VER#";
/// Count shards per collection: writes spread over them, a count reads
/// them all (one strongly consistent Query of a few hundred bytes).
pub const COUNT_SHARDS: u32 = 32;
pub const EDGE_PREFIX: &str = "REF#";

pub type Key = HashMap<String, AttributeValue>;

fn key(pk: String, sk: &str) -> Key {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// The partition of an organization's records (itself, its collections,
/// its webhook endpoints).
pub const ORG_PREFIX: &str = "ORG#";

pub fn org(org: &OrgId) -> Key {
    key(org_pk(org), "ORG")
}

pub fn org_pk(org: &OrgId) -> String {
    format!("{ORG_PREFIX}{org}")
}

pub const COLLECTION_PREFIX: &str = "COLL#";

pub fn collection(org: &OrgId, collection: &CollectionKey) -> Key {
    key(org_pk(org), &format!("{COLLECTION_PREFIX}{collection}"))
}

pub fn token(hash: &str) -> Key {
    key(format!("TOKEN#{hash}"), "TOKEN")
}

pub fn item_pk(org: &OrgId, collection: &CollectionKey, id: &ItemId) -> String {
    format!("ITEM#{org}#{collection}#{id}")
}

pub fn item(org: &OrgId, collection: &CollectionKey, id: &ItemId) -> Key {
    key(item_pk(org, collection, id), ITEM_SK)
}

/// Version `version` of an item, in the item's partition (sort keys in
/// version order: 20 digits).
pub fn version(org: &OrgId, collection: &CollectionKey, id: &ItemId, version: u64) -> Key {
    key(
        item_pk(org, collection, id),
        &format!("{VERSION_PREFIX}{version:020}"),
    )
}

pub const SCHEDULE_PREFIX: &str = "SCHED#";

/// A schedule of an item, in the item's partition.
pub fn schedule(org: &OrgId, collection: &CollectionKey, id: &ItemId, schedule_id: &str) -> Key {
    key(
        item_pk(org, collection, id),
        &format!("{SCHEDULE_PREFIX}{schedule_id}"),
    )
}

/// The `by_created` partition of an organization's schedules.
pub fn schedules_partition(org: &OrgId) -> String {
    format!("{SCHEDULE_PREFIX}{org}")
}

/// The `by_field` partition of an organization's schedules in `state`.
pub fn schedules_in_state(org: &OrgId, state: &str) -> String {
    format!("{SCHEDULE_PREFIX}{org}#{state}")
}

/// The edge from `referrer` to `target`, kept in the target's partition.
pub fn edge(
    org: &OrgId,
    target: (&CollectionKey, &ItemId),
    referrer: (&CollectionKey, &ItemId),
) -> Key {
    key(
        item_pk(org, target.0, target.1),
        &format!("{EDGE_PREFIX}{}#{}", referrer.0, referrer.1),
    )
}

/// The `by_field` partition listing the edges that hold the item at
/// `target_pk` through a `restrict` field: such an edge carries `ix_pk =
/// restrict_holders(its pk)` and `ix_sk = its sk`, so the holders of an
/// item with any number of `detach` referrers are one small Query. (Entry
/// partitions end in `#p` or `#d`; these end in `#restrict`.)
pub fn restrict_holders(target_pk: &str) -> String {
    format!("{target_pk}#restrict")
}

/// The `by_field` keys (`ix_pk`, `ix_sk`) that list the edge at `edge`
/// among its target's `restrict` holders.
pub fn holder_index_keys(edge: &Key) -> Option<(AttributeValue, AttributeValue)> {
    let pk = edge.get(PK)?.as_s().ok()?;
    Some((
        AttributeValue::S(restrict_holders(pk)),
        edge.get(SK)?.clone(),
    ))
}

/// The record of one background job run for one event (`store::jobs`).
pub fn job(event_id: &str, job: &str) -> Key {
    key(format!("JOB#{event_id}"), &format!("JOB#{job}"))
}

pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";
pub const ATTEMPT_PREFIX: &str = "ATTEMPT#";

pub fn webhook(org: &OrgId, id: &WebhookId) -> Key {
    key(org_pk(org), &format!("{WEBHOOK_PREFIX}{id}"))
}

/// How many endpoints `org` has: the record the per-organization cap is
/// checked on, in the same transaction as each registration and removal.
pub fn webhook_count(org: &OrgId) -> Key {
    key(org_pk(org), "WEBHOOKS")
}

/// The partition of an endpoint's deliveries log. `log_id` is new with
/// each creation of the endpoint, so one re-created under the same id
/// starts with an empty log (the old one expires by TTL).
pub fn webhook_log_pk(org: &OrgId, id: &WebhookId, log_id: &str) -> String {
    format!("WHLOG#{org}#{id}#{log_id}")
}

/// One attempt in the log; ULIDs sort by time.
pub fn webhook_attempt(org: &OrgId, id: &WebhookId, log_id: &str, attempt: ulid::Ulid) -> Key {
    key(
        webhook_log_pk(org, id, log_id),
        &format!("{ATTEMPT_PREFIX}{attempt}"),
    )
}

/// A delivery (an event for an endpoint): what a manual retry re-sends.
pub fn webhook_delivery(org: &OrgId, id: &WebhookId, log_id: &str, delivery_id: &str) -> Key {
    key(
        webhook_log_pk(org, id, log_id),
        &format!("DELIVERY#{delivery_id}"),
    )
}

/// The `trash` index's sort key: deletion time, then id.
pub fn trash_sk(deleted_at: &str, id: &ItemId) -> String {
    format!("{deleted_at}#{id}")
}

/// Partition of the `live` and `trash` indexes: one per collection.
pub fn collection_partition(org: &OrgId, collection: &CollectionKey) -> String {
    format!("{org}#{collection}")
}

/// Which views list a listing entry or an index entry: the last letter of
/// its partition. A published view reads `p` and `l`, a preview `p` and
/// `d`, so each view lists every item once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Both views: a published item without a draft (`p`).
    Published,
    /// Preview only: the newest content of a draft, or of an item with a
    /// draft over its live version (`d`).
    Draft,
    /// The published view only: the live version of an item with a draft (`l`).
    Live,
}

impl Side {
    /// The side of an item's newest content in state `state`.
    pub fn of(state: State) -> Side {
        match state {
            State::Published => Side::Published,
            State::Draft | State::PublishedWithDraft => Side::Draft,
        }
    }

    /// The partitions a view reads.
    pub fn read_by(preview: bool) -> [Side; 2] {
        if preview {
            [Side::Published, Side::Draft]
        } else {
            [Side::Published, Side::Live]
        }
    }

    /// Every side (a purge of all of a field's entries).
    pub const ALL: [Side; 3] = [Side::Published, Side::Draft, Side::Live];

    fn letter(self) -> char {
        match self {
            Side::Published => 'p',
            Side::Draft => 'd',
            Side::Live => 'l',
        }
    }
}

/// The `vis_pk` of a listing entry: its collection and side.
pub fn visibility_partition(org: &OrgId, collection: &CollectionKey, side: Side) -> String {
    format!("{org}#{collection}#{}", side.letter())
}

/// The published view's listing entry of an item with a draft (its own
/// record in the item's partition; the item carries the preview's).
pub fn live_listing(org: &OrgId, collection: &CollectionKey, id: &ItemId) -> Key {
    key(item_pk(org, collection, id), LIVE_LISTING_SK)
}

/// An item's entry for one indexed field, in the item's partition: of its
/// newest content (`IDX#<field>`) or of the live version under a draft
/// (`LIVE#IDX#<field>`).
pub fn entry(org: &OrgId, collection: &CollectionKey, id: &ItemId, field: &str, live: bool) -> Key {
    let prefix = if live { "LIVE#" } else { "" };
    key(
        item_pk(org, collection, id),
        &format!("{prefix}{ENTRY_PREFIX}{field}"),
    )
}

/// The `ix_pk` of an indexed field's entries: its collection, the field
/// and the side.
pub fn field_partition(org: &OrgId, collection: &CollectionKey, field: &str, side: Side) -> String {
    format!("{org}#{collection}#{field}#{}", side.letter())
}

/// The `by_updated` index's sort key: last write time, then id.
pub fn updated_sk(updated_at: &str, id: &ItemId) -> String {
    format!("{updated_at}#{id}")
}

/// The partition of a collection's count shards.
pub fn count_pk(org: &OrgId, collection: &CollectionKey) -> String {
    format!("COUNT#{org}#{collection}")
}

/// The partition of the value counts of one partition of entries.
pub fn value_count_pk(ix_pk: &str) -> String {
    format!("VCOUNT#{ix_pk}")
}

/// One shard of the count of entries in `ix_pk` holding an encoded value.
pub fn value_count(ix_pk: &str, value: &str, shard: u32) -> Key {
    key(value_count_pk(ix_pk), &format!("{value}#{shard:02}"))
}

/// One count shard of a collection.
pub fn count_shard(org: &OrgId, collection: &CollectionKey, shard: u32) -> Key {
    key(count_pk(org, collection), &format!("SHARD#{shard:02}"))
}

pub fn idempotency(token_hash: &str, idempotency_key: &str) -> Key {
    key(format!("IDEM#{token_hash}#{idempotency_key}"), "IDEM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_documented_shape() {
        let org = OrgId::parse("acme").unwrap();
        let coll = CollectionKey::parse("team_members").unwrap();
        let id = ItemId::parse("01JF0000000000000000000000").unwrap();
        let k = item(&org, &coll, &id);
        assert_eq!(
            k[PK].as_s().unwrap(),
            "ITEM#acme#team_members#01JF0000000000000000000000"
        );
        assert_eq!(k[SK].as_s().unwrap(), "ITEM");
        assert_eq!(
            collection(&org, &coll)[SK].as_s().unwrap(),
            "COLL#team_members"
        );
        assert_eq!(&org_pk(&org), collection(&org, &coll)[PK].as_s().unwrap());
        assert_eq!(collection_partition(&org, &coll), "acme#team_members");
        assert_eq!(
            visibility_partition(&org, &coll, Side::Published),
            "acme#team_members#p"
        );
        assert_eq!(
            field_partition(&org, &coll, "name", Side::Live),
            "acme#team_members#name#l"
        );
        assert_eq!(live_listing(&org, &coll, &id)[PK], k[PK]);
        assert_eq!(
            version(&org, &coll, &id, 42)[SK].as_s().unwrap(),
            "VER#00000000000000000042"
        );
        assert_eq!(
            entry(&org, &coll, &id, "name", true)[SK].as_s().unwrap(),
            "LIVE#IDX#name"
        );
        // Each view reads every side an item can be listed on once.
        for state in [State::Draft, State::Published, State::PublishedWithDraft] {
            let mut sides = vec![Side::of(state)];
            if state == State::PublishedWithDraft {
                sides.push(Side::Live);
            }
            for preview in [false, true] {
                let read = Side::read_by(preview);
                let seen = sides.iter().filter(|s| read.contains(s)).count();
                let shown = preview || state.is_live();
                assert_eq!(seen, usize::from(shown), "{state:?} preview={preview}");
            }
        }
        assert_eq!(
            updated_sk("2026-11-29T08:00:00.000000Z", &id),
            "2026-11-29T08:00:00.000000Z#01JF0000000000000000000000"
        );
        assert_eq!(count_shard(&org, &coll, 7)[SK].as_s().unwrap(), "SHARD#07");
        let other = CollectionKey::parse("posts").unwrap();
        let e = edge(&org, (&coll, &id), (&other, &id));
        assert_eq!(e[PK], k[PK], "an edge lives in its target's partition");
        assert_eq!(
            e[SK].as_s().unwrap(),
            "REF#posts#01JF0000000000000000000000"
        );
        assert_eq!(
            restrict_holders(e[PK].as_s().unwrap()),
            "ITEM#acme#team_members#01JF0000000000000000000000#restrict"
        );
        // The endpoint count shares the endpoints' partition but not their
        // prefix, so listing endpoints never reads it as one.
        let count = webhook_count(&org);
        let hook = webhook(&org, &WebhookId::parse("site").unwrap());
        assert_eq!(count[PK], hook[PK]);
        assert!(!count[SK].as_s().unwrap().starts_with(WEBHOOK_PREFIX));
        assert!(hook[SK].as_s().unwrap().starts_with(WEBHOOK_PREFIX));
    }

    #[test]
    fn ids_cannot_forge_another_partition() {
        // Keys are joined with '#', which no identifier may contain.
        assert!(OrgId::parse("a#b").is_err());
        assert!(CollectionKey::parse("a#b").is_err());
    }
}
