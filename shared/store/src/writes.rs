//! Creating and changing items: create (1–25 items, all or none, with an
//! optional idempotency record), replace (PUT) and patch (PATCH). Each is
//! one request per attempt; a lost race re-plans from the item that the
//! failed condition handed back, and a write that changes nothing keeps
//! the item's version.
//!
//! - `create`: creating items, all or none;
//! - `change`: replacing and patching one (PUT, PATCH);
//! - here: what every write of an item shares (soft delete, restore and
//!   reference cleanup too): its description, its answer, its ops.

mod change;
mod create;

pub use create::CreateWith;

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{Action, Attempts, Committed, Op, Role, Target};
use super::entries::{entry_ops, Indexing};
use super::expr::Expr;
use super::keys;
use super::pages::{count_op, Tally};
use super::record::{live_listing_op, set_status, touch, when_live};
use super::refs::{edge_ops, RefChange};
use super::schedules::{end_op, end_op_of};
use super::versions::version_op;
use folio_core::content::{
    drop_reference, Action as Made, Author, ItemRecord, OutRef, State, Status,
};
use folio_core::error::{Error, FieldErrors};
use folio_core::ids::{CollectionKey, ItemId, OrgId};
use folio_core::schedule::{Schedule, ScheduleAction, ScheduleState};

/// Everything a write needs to say about the item it writes.
#[derive(Debug, Clone)]
pub struct ItemWrite<'a> {
    pub org: &'a OrgId,
    pub collection: &'a CollectionKey,
    pub id: ItemId,
    pub now: &'a str,
    /// `If-Match`: the version the client last saw.
    pub expected: Option<u64>,
    /// The request's id: the source of its request tokens.
    pub request_id: &'a str,
    /// The collection's indexed fields, whose entries move with the item.
    pub indexing: &'a Indexing,
    /// Who writes: named in the version the write keeps.
    pub by: &'a Author,
}

impl ItemWrite<'_> {
    /// The attempts of this request's `what` (write, delete, restore) of
    /// this item: their tokens differ from any other request's or write's.
    pub(crate) fn attempts(&self, what: &str) -> Attempts {
        Attempts::new(&format!(
            "{}#{what}#{}#{}",
            self.request_id, self.collection, self.id
        ))
    }
}

/// What a write does to the item's pending schedules (`store::schedules`).
#[derive(Debug, Clone, Copy)]
pub enum Pending<'a> {
    /// Nothing: an edit (a pending publish then publishes the latest draft).
    Keep,
    /// An explicit publish or unpublish: cancels the pending schedule of
    /// that action by removing its id in the item's own update.
    Cancel(ScheduleAction),
    /// The schedule firing: the write is conditioned on the item holding
    /// its id, removes it, and ends the record (done) in the same commit.
    Fire(&'a Schedule),
}

impl Pending<'_> {
    /// A publish cancels a pending publish; nothing else does.
    pub fn of_status(status: Option<Status>) -> Self {
        match status {
            Some(Status::Published) => Pending::Cancel(ScheduleAction::Publish),
            _ => Pending::Keep,
        }
    }

    /// Whether the write has something to do to `item`'s schedules, even
    /// when its content stays.
    fn touches(&self, item: &ItemRecord) -> bool {
        match self {
            Pending::Keep => false,
            Pending::Cancel(action) => item.pending(*action).is_some(),
            Pending::Fire(_) => true,
        }
    }

    /// The item's update's part, and the record's end (a fire).
    fn apply(&self, expr: &mut Expr, now: &str) -> Option<Op> {
        match self {
            Pending::Keep => None,
            Pending::Cancel(action) => {
                expr.remove_attr(action.item_attribute());
                None
            }
            Pending::Fire(s) => {
                let attr = s.action.item_attribute();
                expr.remove_attr(attr);
                expr.when_equals(attr, AttributeValue::S(s.id.clone()));
                Some(end_op(s, ScheduleState::Done, None, now))
            }
        }
    }
}

/// What an accepted write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The item's version now.
    pub version: u64,
    /// The item's state before the write.
    pub old_status: State,
    /// False when the write changed nothing: the version stayed.
    pub changed: bool,
}

impl Written {
    /// What a committed write did: from the item before it (a single
    /// Update's old image, else `known`, the item a transaction was planned
    /// on), or as a retry found it already done.
    pub(crate) fn from_commit(c: Committed, known: Option<ItemRecord>) -> Result<Written, Error> {
        let (version, old_status) = match c {
            Committed::Done(old) => {
                let old = old
                    .map(|o| *o)
                    .or(known)
                    .ok_or_else(|| Error::internal("a transaction runs only after a read"))?;
                (old.version + 1, old.status)
            }
            Committed::AlreadyDone(now) => (now.version, now.status),
        };
        Ok(Written {
            version,
            old_status,
            changed: true,
        })
    }
}

/// Refuses a write to an item that is not live (404) or has moved past
/// the version the client expects (412).
pub(crate) fn still_writable(now: &ItemRecord, expected: Option<u64>) -> Result<(), Error> {
    if !now.is_live(now_epoch()) {
        return Err(Error::NotFound);
    }
    match expected.filter(|e| *e != now.version) {
        Some(expected) => Err(Error::VersionMismatch {
            expected,
            current: now.version,
        }),
        None => Ok(()),
    }
}

/// The actions of a write to one item: its own update, then the edges that
/// move its references from `old` to `new` (targets in `gone` no longer
/// exist). Used by replace, patch, soft delete and restore alike.
pub(crate) fn item_ops(
    w: &ItemWrite<'_>,
    expr: Expr,
    old: &[OutRef],
    new: &[OutRef],
    gone: &BTreeSet<Target>,
) -> Vec<Op> {
    let mut ops = vec![Op {
        role: Role::Item,
        action: Action::Update {
            key: keys::item(w.org, w.collection, &w.id),
            expr,
        },
    }];
    ops.extend(edge_ops(
        w.org,
        &[RefChange {
            collection: w.collection,
            id: w.id,
            old,
            new,
        }],
        gone,
    ));
    ops
}

/// An idempotency record, written in the same transaction as a create.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub token_hash: String,
    pub key: String,
    pub request_hash: String,
    pub response: String,
    pub expires_at: i64,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New,
    /// The idempotency key was used before with this request: its response.
    Replayed(String),
}

fn decode(encoded: &[String]) -> Vec<OutRef> {
    let mut refs: Vec<OutRef> = encoded.iter().filter_map(|s| OutRef::decode(s)).collect();
    refs.sort();
    refs.dedup();
    refs
}

/// The references an item holds in either of its versions: what its
/// edges, its targets' guards and a restore's links cover.
pub(crate) fn decode_refs(item: &ItemRecord) -> Vec<OutRef> {
    decode(&item.all_out_refs())
}

/// The references of an item's newest content (what a patch edits).
pub fn newest_refs(item: &ItemRecord) -> Vec<OutRef> {
    decode(&item.out_refs)
}

pub(crate) fn encode_refs(refs: &[OutRef]) -> Vec<String> {
    refs.iter().map(OutRef::encode).collect()
}

pub(crate) fn set_out_refs(expr: &mut Expr, refs: &[String]) {
    if refs.is_empty() {
        expr.remove_attr("out_refs");
    } else {
        expr.set_value(
            "out_refs",
            AttributeValue::L(refs.iter().map(|r| AttributeValue::S(r.clone())).collect()),
        );
    }
}

/// The item without the references in `lost`, from both of its versions:
/// their values and their reference lists.
pub(crate) fn without_refs(item: &ItemRecord, lost: &[OutRef]) -> ItemRecord {
    let mut out = item.clone();
    let keep = |refs: &mut Vec<String>| {
        refs.retain(|s| OutRef::decode(s).is_none_or(|r| !lost.contains(&r)));
    };
    for r in lost {
        drop_reference(&mut out.fields, r);
        if let Some(live) = out.live.as_mut() {
            drop_reference(&mut live.fields, r);
        }
    }
    keep(&mut out.out_refs);
    if let Some(live) = out.live.as_mut() {
        keep(&mut live.out_refs);
    }
    out
}

pub(crate) fn attribute<T: serde::Serialize>(value: &T) -> Result<AttributeValue, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value).map_err(Error::internal)
}

/// The ops that take a live item from `old`, as read, to `new`, the same
/// item after a write (`ItemRecord::written`, `unpublished`, a worker's
/// rewrite), in one commit conditioned on `old`'s version: the item's own
/// update (content of both versions, state, listing keys), the published
/// view's listing of an item with a draft, the edges of both versions'
/// references (targets in `gone` no longer exist), the collection's counts
/// the index entries of both versions, and the version `new` is (`made`
/// by `w.by`), with what it does to the item's schedules (`pending`).
/// Every such write goes through here, so no write can move one of these
/// without the others.
pub(crate) fn move_ops(
    w: &ItemWrite<'_>,
    (old, new): (&ItemRecord, &ItemRecord),
    made: Made,
    pending: Pending<'_>,
    write_token: String,
    gone: &BTreeSet<Target>,
) -> Result<Vec<Op>, Error> {
    let mut expr = Expr::new();
    let fired = pending.apply(&mut expr, w.now);
    expr.set_value("fields", attribute(&new.fields)?);
    match &new.live {
        Some(live) => expr.set_value("live", attribute(live)?),
        None => expr.remove_attr("live"),
    };
    set_status(&mut expr, w.org, w.collection, new.status);
    set_out_refs(&mut expr, &new.out_refs);
    touch(&mut expr, &w.id, &new.updated_at);
    expr.set_value("write_token", AttributeValue::S(write_token));
    expr.set_value("version", AttributeValue::N(new.version.to_string()));
    when_live(&mut expr);
    expr.when_equals("version", AttributeValue::N(old.version.to_string()));
    let mut ops = item_ops(w, expr, &decode_refs(old), &decode_refs(new), gone);
    ops.extend(live_listing_op(Some(old), Some(new)));
    ops.extend(count_op(
        w.org,
        w.collection,
        Tally::change(Some(old.status), Some(new.status)),
    ));
    ops.extend(entry_ops(
        w.org,
        w.collection,
        &w.id,
        w.indexing,
        Some(old),
        Some(new),
    ));
    ops.push(version_op(new, made, w.by)?);
    ops.extend(fired);
    Ok(ops)
}

/// The ops of a write whose content stays but whose schedules move (an
/// explicit publish of what is published already, a fire that changes
/// nothing): the item's update of them alone, conditioned on `known`'s
/// version, and the record's end: done (a fire) or cancelled (a cancel:
/// no event follows a write that keeps the version, so the record ends
/// here, on condition that the item still holds it).
fn pending_ops(w: &ItemWrite<'_>, known: &ItemRecord, pending: Pending<'_>) -> Vec<Op> {
    let mut expr = Expr::new();
    let mut ended = pending.apply(&mut expr, w.now);
    if let Pending::Cancel(action) = pending {
        if let Some(id) = known.pending(action) {
            expr.when_equals(action.item_attribute(), AttributeValue::S(id.to_owned()));
            ended = Some(end_op_of(
                (w.org, w.collection, &w.id, id),
                ScheduleState::Cancelled,
                None,
                w.now,
            ));
        }
    }
    when_live(&mut expr);
    expr.when_equals("version", AttributeValue::N(known.version.to_string()));
    let mut ops = vec![Op {
        role: Role::Item,
        action: Action::Update {
            key: keys::item(w.org, w.collection, &w.id),
            expr,
        },
    }];
    ops.extend(ended);
    ops
}

/// Field errors for the references in `refs` whose targets are missing or
/// deleted.
pub fn missing_target_errors(
    missing: &[(CollectionKey, ItemId)],
    refs: &[OutRef],
    prefix: &str,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for r in refs.iter().filter(|r| {
        missing
            .iter()
            .any(|(c, id)| *c == r.collection && *id == r.id)
    }) {
        errors.insert(
            format!("{prefix}{}", r.field),
            vec!["This value does not exist.".into()],
        );
    }
    if errors.is_empty() {
        errors.insert(
            format!("{prefix}fields"),
            vec!["This value does not exist.".into()],
        );
    }
    errors
}

pub fn too_large(prefix: &str) -> Error {
    let what = if prefix.is_empty() {
        "The item".to_owned()
    } else {
        format!("Item {}", prefix.trim_end_matches('.'))
    };
    Error::TooLarge(format!(
        "{what} is larger than the 400 KB a stored item may be."
    ))
}

pub fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests;
