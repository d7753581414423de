//! An item as DynamoDB holds it: the record plus its keys and index
//! attributes, and the one condition that says an item is live.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::Expr;
use super::keys;
use crate::content::ItemRecord;
use crate::error::Error;

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
    Ok(item)
}

/// Moves an item from the `live` index to the `trash` index.
pub(crate) fn to_trash(expr: &mut Expr, record_key: (&str, &crate::ids::ItemId), deleted_at: &str) {
    expr.set_value(keys::TRASH_PK, AttributeValue::S(record_key.0.to_owned()));
    expr.set_value(
        keys::TRASH_SK,
        AttributeValue::S(keys::trash_sk(deleted_at, record_key.1)),
    );
    expr.remove_attr(keys::LIVE_PK);
    expr.remove_attr(keys::LIVE_SK);
}

/// Moves an item from the `trash` index back to the `live` index.
pub(crate) fn to_live(expr: &mut Expr, partition: &str, id: &crate::ids::ItemId) {
    expr.set_value(keys::LIVE_PK, AttributeValue::S(partition.to_owned()));
    expr.set_value(keys::LIVE_SK, AttributeValue::S(id.to_string()));
    expr.remove_attr(keys::TRASH_PK);
    expr.remove_attr(keys::TRASH_SK);
}
