//! Scans for the admin CLI only, never on a request path: the items to
//! replay (docs/design.md §8, Replay), and the `restrict` edges written
//! before `by_field` listed them (an upgrade step).

use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{StreamExt, TryStreamExt};

use super::commit::parse_record;
use super::expr::Expr;
use super::keys;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::ItemRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, OrgId};

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
            .scan_with(&expr)
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

    /// Lists every `restrict` edge that `by_field` does not list yet among
    /// its target's holders (`keys::restrict_holders`): edges written by a
    /// version before the index held them. Each is updated only while it
    /// still holds a `restrict` field and is unlisted, so an edge a request
    /// rewrites or releases meanwhile is left as the request wrote it.
    /// Returns how many it listed; running it again lists none.
    pub async fn index_restrict_edges(&self) -> Result<usize, Error> {
        let mut expr = Expr::new();
        let pk = expr.name(keys::PK);
        let sk = expr.name(keys::SK);
        let projection = format!("{pk}, {sk}");
        let prefix = expr.value(AttributeValue::S(keys::EDGE_PREFIX.into()));
        expr.when(format!("begins_with({sk}, {prefix})"));
        expr.when_exists("restrict");
        expr.when_absent(keys::IX_PK);
        // Page by page into the updates: the table may hold millions.
        let mut pages = self
            .scan_with(&expr)
            .projection_expression(projection)
            .into_paginator()
            .send();
        let mut listed = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(from_sdk)?;
            let applied = futures::stream::iter(page.items.unwrap_or_default())
                .map(|edge| self.list_restrict_edge(edge))
                .buffer_unordered(8)
                .try_collect::<Vec<bool>>()
                .await?;
            listed += applied.into_iter().filter(|l| *l).count();
        }
        Ok(listed)
    }

    async fn list_restrict_edge(
        &self,
        edge: std::collections::HashMap<String, AttributeValue>,
    ) -> Result<bool, Error> {
        let Some((ix_pk, ix_sk)) = keys::holder_index_keys(&edge) else {
            return Ok(false);
        };
        let mut expr = Expr::new();
        expr.set_value(keys::IX_PK, ix_pk);
        expr.set_value(keys::IX_SK, ix_sk);
        expr.when_exists("restrict");
        expr.when_absent(keys::IX_PK);
        let out = self.update_with(edge, &expr).send().await;
        super::applied(out, |e| e.is_conditional_check_failed_exception())
    }
}
