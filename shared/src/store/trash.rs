//! Soft delete and restore. A soft delete is one conditional write: the
//! item is live, no live item references it through a `restrict` field
//! (`restrict_count` is 0), and the version is what the caller saw; it
//! releases the item's own references in the same request. DynamoDB TTL
//! purges a deleted item after the retention period.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::commit::{Attempts, Target, WriteFailure};
use super::expr::Expr;
use super::keys;
use super::pages::{count_op, Tally};
use super::record::{to_live, to_trash, when_live};
use super::writes::{
    decode_refs, item_ops, now_epoch, set_out_refs, still_writable, too_large, ItemWrite, Written,
};
use super::Store;
use crate::content::OutRef;
use crate::error::Error;
use crate::schema::OnDelete;

/// Referrers named in a refused delete; the total is counted exactly.
pub const REFERRERS_SHOWN: usize = 100;

impl Store {
    /// Soft-deletes a live item that no live item references through a
    /// `restrict` field, releasing the references it makes, in one
    /// transaction with its collection's count. The item is read first (its
    /// status moves the count; its version guards the write).
    pub async fn soft_delete(
        &self,
        w: &ItemWrite<'_>,
        retention_secs: i64,
    ) -> Result<Written, Error> {
        let mut attempts = w.attempts("delete");
        let mut known = self
            .get_item(w.org, w.collection, &w.id)
            .await?
            .ok_or(Error::NotFound)?;
        if known.write_token.as_deref() == Some(attempts.write_token().as_str()) {
            // This request deleted it already (a retry after a lost response).
            return Ok(Written {
                version: known.version,
                old_status: known.status,
                changed: true,
            });
        }
        still_writable(&known, w.expected)?;
        let mut gone = BTreeSet::new();
        while attempts.next() {
            if known.restrict_count > 0 {
                let by = self
                    .restrict_referrers(w.org, (w.collection, &w.id), REFERRERS_SHOWN)
                    .await?;
                return Err(Error::Referenced {
                    by,
                    total: known.restrict_count,
                });
            }
            let mut expr = Expr::new();
            for attr in ["deleted_at", "updated_at"] {
                expr.set_value(attr, AttributeValue::S(w.now.to_owned()));
            }
            to_trash(
                &mut expr,
                (&keys::collection_partition(w.org, w.collection), &w.id),
                w.now,
            );
            expr.set_value(
                "expires_at",
                AttributeValue::N((now_epoch() + retention_secs).to_string()),
            );
            expr.set_value("write_token", AttributeValue::S(attempts.write_token()));
            expr.bump_version();
            when_live(&mut expr);
            let count = expr.name("restrict_count");
            let zero = expr.value(AttributeValue::N("0".into()));
            expr.when(format!("attribute_not_exists({count}) OR {count} = {zero}"));
            expr.when_equals("version", AttributeValue::N(known.version.to_string()));
            let old_refs = decode_refs(&known);
            let mut ops = item_ops(w, expr, &old_refs, &[], &gone);
            ops.extend(count_op(
                w.org,
                w.collection,
                Tally::change(Some(known.status), None),
            ));
            match self.commit(ops, &attempts).await {
                Ok(committed) => return Written::from_commit(committed, Some(known)),
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(now))) => {
                    still_writable(&now, w.expected)?;
                    known = *now;
                }
                Err(WriteFailure::GoneTargets(g)) => gone.extend(g),
                Err(WriteFailure::Conflict { .. }) => attempts.backoff().await,
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(WriteFailure::MissingTargets(_))
                | Err(WriteFailure::TooMany)
                | Err(WriteFailure::Idempotent(_))
                | Err(WriteFailure::Restored) => {
                    return Err(Error::internal("a release failed as a link would"))
                }
                Err(WriteFailure::Fault(e)) => return Err(e),
            }
        }
        Err(Attempts::conflict())
    }

    /// Brings a deleted item back with its references. A `restrict` target
    /// that is gone meanwhile → 409 naming it; a `detach` link to a gone
    /// target is dropped from the restored item.
    pub async fn restore(&self, w: &ItemWrite<'_>) -> Result<Written, Error> {
        let mut attempts = w.attempts("restore");
        let mut dropped: BTreeSet<Target> = BTreeSet::new();
        while attempts.next() {
            let old = self
                .get_item(w.org, w.collection, &w.id)
                .await?
                .ok_or(Error::NotFound)?;
            if old.write_token.as_deref() == Some(attempts.write_token().as_str()) {
                // This request restored it already (a retry after a lost response).
                return Ok(Written {
                    version: old.version,
                    old_status: old.status,
                    changed: true,
                });
            }
            if old.deleted_at.is_none() || old.expires_at.is_some_and(|t| t <= now_epoch()) {
                return Err(Error::NotFound);
            }
            if let Some(expected) = w.expected.filter(|e| *e != old.version) {
                return Err(Error::VersionMismatch {
                    expected,
                    current: old.version,
                });
            }
            let all_refs = decode_refs(&old);
            let (kept, lost): (Vec<OutRef>, Vec<OutRef>) = all_refs
                .iter()
                .cloned()
                .partition(|r| !dropped.contains(&(r.collection.clone(), r.id)));
            let mut expr = Expr::new();
            to_live(&mut expr, &old, w.now);
            for attr in ["deleted_at", "expires_at"] {
                expr.remove_attr(attr);
            }
            expr.set_value("write_token", AttributeValue::S(attempts.write_token()));
            expr.bump_version();
            expr.when_exists("deleted_at");
            expr.when_equals("version", AttributeValue::N(old.version.to_string()));
            if !lost.is_empty() {
                let mut fields = old.fields.clone();
                for r in &lost {
                    drop_reference(&mut fields, r);
                }
                let fields = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&fields)
                    .map_err(Error::internal)?;
                expr.set_value("fields", fields);
                set_out_refs(&mut expr, &kept);
            }
            let mut ops = item_ops(w, expr, &[], &kept, &BTreeSet::new());
            ops.extend(count_op(
                w.org,
                w.collection,
                Tally::change(None, Some(old.status)),
            ));
            match self.commit(ops, &attempts).await {
                Ok(committed) => return Written::from_commit(committed, Some(old)),
                Err(WriteFailure::Item(_)) => {}
                Err(WriteFailure::MissingTargets(missing)) => {
                    let restrict: Vec<String> = kept
                        .iter()
                        .filter(|r| r.on_delete == OnDelete::Restrict)
                        .filter(|r| missing.contains(&(r.collection.clone(), r.id)))
                        .map(|r| format!("{}/{}", r.collection, r.id))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    if !restrict.is_empty() {
                        return Err(Error::Conflict(format!(
                            "This item references content that no longer exists: {}. Restore or recreate it first.",
                            restrict.join(", ")
                        )));
                    }
                    dropped.extend(missing);
                }
                Err(WriteFailure::Conflict { .. }) => attempts.backoff().await,
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(WriteFailure::GoneTargets(_))
                | Err(WriteFailure::TooMany)
                | Err(WriteFailure::Idempotent(_))
                | Err(WriteFailure::Restored) => {
                    return Err(Error::internal("a restore failed as only a release would"))
                }
                Err(WriteFailure::Fault(e)) => return Err(e),
            }
        }
        Err(Attempts::conflict())
    }
}

/// Removes `r`'s target from the field value that holds it.
pub(crate) fn drop_reference(fields: &mut std::collections::BTreeMap<String, Value>, r: &OutRef) {
    let id = r.id.to_string();
    let keep = match fields.get_mut(&r.field) {
        Some(Value::String(s)) => *s != id,
        Some(Value::Array(a)) => {
            a.retain(|v| v.as_str() != Some(id.as_str()));
            !a.is_empty()
        }
        _ => true,
    };
    if !keep {
        fields.remove(&r.field);
    }
}
