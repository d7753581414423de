//! An item as DynamoDB holds it: the record plus its keys and index
//! attributes, and the one condition that says an item is live.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{Action, Op, Role};
use super::expr::Expr;
use super::keys::{self, Side};
use folio_core::content::{ItemRecord, State};
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId, OrgId};

/// `attribute_exists(pk) AND attribute_not_exists(deleted_at)`: the item is
/// there and not soft-deleted. Every write that needs a live item uses this.
pub(crate) fn when_live(expr: &mut Expr) {
    expr.when_exists(keys::PK).when_absent("deleted_at");
}

/// The stored form of a new, live item: the record, its key, and its entry
/// in the `live` index.
pub(crate) fn live_item(record: &ItemRecord) -> Result<HashMap<String, AttributeValue>, Error> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(record).map_err(Error::internal)?;
    item.extend(keys::item(&record.org, &record.collection, &record.id));
    item.insert(
        keys::LIVE_PK.into(),
        AttributeValue::S(keys::collection_partition(&record.org, &record.collection)),
    );
    item.insert(
        keys::LIVE_SK.into(),
        AttributeValue::S(record.id.to_string()),
    );
    let (org, coll, id) = (&record.org, &record.collection, &record.id);
    item.insert(
        keys::VIS_PK.into(),
        AttributeValue::S(keys::visibility_partition(
            org,
            coll,
            Side::of(record.status),
        )),
    );
    item.insert(keys::CR_SK.into(), AttributeValue::S(id.to_string()));
    item.insert(
        keys::UP_SK.into(),
        AttributeValue::S(keys::updated_sk(&record.updated_at, id)),
    );
    Ok(item)
}

/// Sets a live item's state and moves its listing entry to match.
pub(crate) fn set_status(expr: &mut Expr, org: &OrgId, coll: &CollectionKey, state: State) {
    expr.set_value("status", AttributeValue::S(state.as_str().into()));
    expr.set_value(
        keys::VIS_PK,
        AttributeValue::S(keys::visibility_partition(org, coll, Side::of(state))),
    );
}

/// The live version's time, when the published view lists it apart from
/// the item (an item with a draft).
fn live_listed(item: Option<&ItemRecord>) -> Option<&str> {
    let item = item.filter(|i| i.status == State::PublishedWithDraft)?;
    Some(item.live.as_ref()?.updated_at.as_str())
}

/// The move of the published view's listing entry of an item with a
/// draft (`keys::live_listing`) from `old` to `new` (None: not live), if
/// it moves: put while the item has a draft over its live version,
/// deleted when it stops having one.
pub(crate) fn live_listing_op(old: Option<&ItemRecord>, new: Option<&ItemRecord>) -> Option<Op> {
    let (before, after) = (live_listed(old), live_listed(new));
    if before == after {
        return None;
    }
    let r = new.or(old)?;
    let key = keys::live_listing(&r.org, &r.collection, &r.id);
    let action = match after {
        Some(at) => {
            let mut item = key;
            let partition = keys::visibility_partition(&r.org, &r.collection, Side::Live);
            item.insert(keys::VIS_PK.into(), AttributeValue::S(partition));
            item.insert(keys::CR_SK.into(), AttributeValue::S(r.id.to_string()));
            item.insert(
                keys::UP_SK.into(),
                AttributeValue::S(keys::updated_sk(at, &r.id)),
            );
            Action::Put {
                item,
                expr: Expr::new(),
            }
        }
        None => Action::Delete {
            key,
            expr: Expr::new(),
        },
    };
    Some(Op {
        role: Role::Listing,
        action,
    })
}

/// Records a write of a live item at `now`: `updated_at` and its place in
/// the `by_updated` listing.
pub(crate) fn touch(expr: &mut Expr, id: &ItemId, now: &str) {
    expr.set_value("updated_at", AttributeValue::S(now.to_owned()));
    expr.set_value(keys::UP_SK, AttributeValue::S(keys::updated_sk(now, id)));
}

/// Moves an item from the `live` index to the `trash` index.
pub(crate) fn to_trash(expr: &mut Expr, record_key: (&str, &ItemId), deleted_at: &str) {
    expr.set_value(keys::TRASH_PK, AttributeValue::S(record_key.0.to_owned()));
    expr.set_value(
        keys::TRASH_SK,
        AttributeValue::S(keys::trash_sk(deleted_at, record_key.1)),
    );
    for attr in [
        keys::LIVE_PK,
        keys::LIVE_SK,
        keys::VIS_PK,
        keys::CR_SK,
        keys::UP_SK,
    ] {
        expr.remove_attr(attr);
    }
}

/// Moves an item from the `trash` index back to the `live` index and the
/// listings, as written at `now`.
pub(crate) fn to_live(expr: &mut Expr, old: &ItemRecord, now: &str) {
    let (org, coll, id) = (&old.org, &old.collection, &old.id);
    let partition = keys::collection_partition(org, coll);
    expr.set_value(keys::LIVE_PK, AttributeValue::S(partition));
    expr.set_value(keys::LIVE_SK, AttributeValue::S(id.to_string()));
    set_status(expr, org, coll, old.status);
    expr.set_value(keys::CR_SK, AttributeValue::S(id.to_string()));
    touch(expr, id, now);
    expr.remove_attr(keys::TRASH_PK);
    expr.remove_attr(keys::TRASH_SK);
}
