//! Reads for the admin CLI only, never on a request path: a Scan of the
//! table for the items to replay (docs/design.md §8, Replay).

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::parse_record;
use super::expr::Expr;
use super::keys;
use super::Store;
use crate::content::ItemRecord;
use crate::error::Error;
use crate::ids::{CollectionKey, OrgId};

/// Which items to replay: an organization's items, optionally of one
/// collection, optionally changed (`updated_at`) within a time range.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter<'a> {
    pub collection: Option<&'a CollectionKey>,
    /// Inclusive bounds on `updated_at` (RFC 3339 UTC, as stored).
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
}

impl Store {
    /// The items of `org` that match `filter`, live or deleted. Reads the
    /// whole table (a Scan): for replays by an operator, not for requests.
    pub async fn scan_items(
        &self,
        org: &OrgId,
        filter: &ItemFilter<'_>,
    ) -> Result<Vec<ItemRecord>, Error> {
        let mut expr = Expr::new();
        expr.when_equals(keys::SK, AttributeValue::S(keys::ITEM_SK.into()));
        expr.when_equals("org", AttributeValue::S(org.to_string()));
        if let Some(c) = filter.collection {
            expr.when_equals("collection", AttributeValue::S(c.to_string()));
        }
        for (bound, op) in [(filter.since, ">="), (filter.until, "<=")] {
            if let Some(t) = bound {
                let updated = expr.name("updated_at");
                let v = expr.value(AttributeValue::S(t.to_owned()));
                expr.when(format!("{updated} {op} {v}"));
            }
        }
        let items: Vec<_> = self
            .ddb
            .scan()
            .table_name(&self.table)
            .set_filter_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(Error::internal)?;
        let mut out = items
            .into_iter()
            .map(parse_record)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (&a.collection, a.id).cmp(&(&b.collection, b.id)));
        Ok(out)
    }
}
