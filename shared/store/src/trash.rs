//! Soft delete and restore. A soft delete is one conditional write: the
//! item is live, no live item references it through a `restrict` field
//! (`restrict_count` is 0), and the version is what the caller saw; it
//! releases the item's own references in the same request. DynamoDB TTL
//! purges a deleted item after the retention period.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{Action, Attempts, Op, Retry, Role, Target, WriteFailure};
use super::entries::{entry_ops, leaving_ops};
use super::expr::Expr;
use super::keys;
use super::pages::{count_op, Tally};
use super::record::{live_listing_op, to_live, to_trash, when_live};
use super::refs::{edge_ops, RefChange};
use super::versions::version_op;
use super::writes::{
    attribute, decode_refs, item_ops, now_epoch, set_out_refs, still_writable, too_large,
    without_refs, ItemWrite, Written,
};
use super::Store;
use folio_core::content::{Action as Made, ItemRecord, OutRef, Relinks};
use folio_core::error::Error;
use folio_core::schedule::ScheduleAction;
use folio_core::schema::OnDelete;
use futures::stream::{self, StreamExt};

/// Referrers named in a refused delete; the total is counted exactly.
pub const REFERRERS_SHOWN: usize = 100;
/// Transactions of a batch delete in flight at once.
const GROUPS_IN_FLIGHT: usize = 4;

/// The update that moves `known`, live, to the trash at `w.now`, on
/// condition that it is still live, unreferenced and at its version.
fn trash_expr(
    w: &ItemWrite<'_>,
    known: &ItemRecord,
    attempts: &Attempts,
    retention_secs: i64,
) -> Expr {
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
    // A delete cancels the item's pending schedules (`store::schedules`).
    for action in ScheduleAction::ALL {
        expr.remove_attr(action.item_attribute());
    }
    expr.bump_version();
    when_live(&mut expr);
    let count = expr.name("restrict_count");
    let zero = expr.value(AttributeValue::N("0".into()));
    expr.when(format!("attribute_not_exists({count}) OR {count} = {zero}"));
    expr.when_equals("version", AttributeValue::N(known.version.to_string()));
    expr
}

/// The version a delete of `known` at `now` keeps: its content as it was.
fn deleted_version(w: &ItemWrite<'_>, known: &ItemRecord) -> Result<Op, Error> {
    let gone = ItemRecord {
        version: known.version + 1,
        updated_at: w.now.to_owned(),
        deleted_at: Some(w.now.to_owned()),
        ..known.clone()
    };
    version_op(&gone, Made::Delete, w.by)
}

/// One item of a batch delete, read and found deletable.
struct Deletable<'a, 'w> {
    at: usize,
    w: &'a ItemWrite<'w>,
    known: ItemRecord,
    /// Actions it adds to a transaction (its update, edges, entries).
    actions: usize,
}

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
        let attempts = w.attempts("delete");
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
        let mut retry = Retry::new(attempts).unexpected("a release failed as a link would");
        loop {
            let attempts = retry.next()?;
            if known.restrict_count > 0 {
                let by = self
                    .restrict_referrers(
                        w.org,
                        (w.collection, &w.id),
                        REFERRERS_SHOWN,
                        known.restrict_count,
                    )
                    .await?;
                return Err(Error::Referenced {
                    by,
                    total: known.restrict_count,
                });
            }
            let expr = trash_expr(w, &known, attempts, retention_secs);
            let old_refs = decode_refs(&known);
            let mut ops = item_ops(w, expr, &old_refs, &[], &gone);
            ops.extend(count_op(
                w.org,
                w.collection,
                Tally::change(Some(known.status), None),
            ));
            ops.extend(leaving_ops(w.org, w.collection, &known, w.indexing));
            ops.extend(live_listing_op(Some(&known), None));
            ops.push(deleted_version(w, &known)?);
            match self.commit(ops, attempts).await {
                Ok(committed) => return Written::from_commit(committed, Some(known)),
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(now))) => {
                    still_writable(&now, w.expected)?;
                    known = *now;
                }
                Err(WriteFailure::GoneTargets(g)) => gone.extend(g),
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Soft-deletes items of one collection (a batch delete), each as
    /// `soft_delete` would, in fewer round trips: one read of them all,
    /// then shared transactions of up to 100 actions (one count update
    /// each), a few at once. A transaction that fails as a whole (a write
    /// or a new referrer racing it, DynamoDB's limits) hands each of its
    /// items to `soft_delete`, as do items that are referenced (to name
    /// the referrers) or already deleted by this request. Results are in
    /// the order of `ws`.
    pub async fn soft_delete_many(
        &self,
        ws: &[ItemWrite<'_>],
        retention_secs: i64,
    ) -> Vec<Result<Written, Error>> {
        let mut results: Vec<Option<Result<Written, Error>>> = ws.iter().map(|_| None).collect();
        let Some(first) = ws.first() else {
            return Vec::new();
        };
        let targets: Vec<Target> = ws.iter().map(|w| (w.collection.clone(), w.id)).collect();
        // Unread (a fault), every item goes on its own, which reads it.
        let read = self.get_items(first.org, &targets).await;
        let mut alone: Vec<usize> = Vec::new();
        let mut deletable: Vec<Deletable<'_, '_>> = Vec::new();
        let mut found = match read {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "batch delete: the read failed; deleting one by one");
                alone.extend(0..ws.len());
                Default::default()
            }
        };
        for (at, w) in ws.iter().enumerate() {
            if alone.contains(&at) {
                continue;
            }
            let Some(known) = found.remove(&(w.collection.clone(), w.id)) else {
                results[at] = Some(Err(Error::NotFound));
                continue;
            };
            let mine = w.attempts("delete").write_token();
            if known.write_token.as_deref() == Some(mine.as_str())
                || known.restrict_count > 0
                || w.collection != first.collection
            {
                alone.push(at);
                continue;
            }
            if let Err(e) = still_writable(&known, w.expected) {
                results[at] = Some(Err(e));
                continue;
            }
            let refs = decode_refs(&known);
            let actions = 1
                + edge_ops(
                    w.org,
                    &[RefChange {
                        collection: w.collection,
                        id: w.id,
                        old: &refs,
                        new: &[],
                    }],
                    &BTreeSet::new(),
                )
                .len()
                + leaving_ops(w.org, w.collection, &known, w.indexing)
                    .iter()
                    .map(Op::actions)
                    .sum::<usize>()
                + live_listing_op(Some(&known), None).map_or(0, |op| op.actions())
                + 1; // its version
            deletable.push(Deletable {
                at,
                w,
                known,
                actions,
            });
        }
        // Groups of about equal size, at least as many as run at once (so
        // they share the work), each under the action bound with its count
        // update.
        let total: usize = deletable.iter().map(|d| d.actions).sum();
        let bound = super::commit::MAX_ACTIONS - 1;
        let wanted = total
            .div_ceil(bound)
            .max(GROUPS_IN_FLIGHT.min(deletable.len()))
            .max(1);
        let target = total.div_ceil(wanted);
        let mut groups: Vec<Vec<Deletable<'_, '_>>> = Vec::new();
        let mut used = 0;
        for d in deletable {
            let full = used >= target || used + d.actions > bound;
            if groups.is_empty() || full {
                groups.push(Vec::new());
                used = 0;
            }
            used += d.actions;
            if let Some(g) = groups.last_mut() {
                g.push(d);
            }
        }
        // Futures made in a loop, not a closure: a closure over borrowed
        // groups is not general enough for the Send a Lambda handler needs.
        let mut pending = Vec::with_capacity(groups.len());
        for group in groups {
            let ats: Vec<usize> = group.iter().map(|d| d.at).collect();
            pending.push(async move { (ats, self.delete_group(group, retention_secs).await) });
        }
        let outcomes: Vec<(Vec<usize>, Option<Vec<Written>>)> = stream::iter(pending)
            .buffer_unordered(GROUPS_IN_FLIGHT)
            .collect()
            .await;
        for (ats, outcome) in outcomes {
            match outcome {
                Some(written) => {
                    for (at, w) in ats.into_iter().zip(written) {
                        results[at] = Some(Ok(w));
                    }
                }
                None => alone.extend(ats),
            }
        }
        let singles: Vec<(usize, Result<Written, Error>)> = stream::iter(alone)
            .map(|at| async move { (at, self.soft_delete(&ws[at], retention_secs).await) })
            .buffer_unordered(GROUPS_IN_FLIGHT * 4)
            .collect()
            .await;
        for (at, r) in singles {
            results[at] = Some(r);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(Error::internal("a batch delete left an item unanswered")))
            })
            .collect()
    }

    /// One transaction deleting a group of items; None when it did not
    /// commit (its items are then deleted one by one).
    async fn delete_group(
        &self,
        group: Vec<Deletable<'_, '_>>,
        retention_secs: i64,
    ) -> Option<Vec<Written>> {
        let first = group.first()?.w;
        let mut attempts = Attempts::new(&format!(
            "{}#delete-group#{}#{}",
            first.request_id, first.collection, first.id
        ));
        attempts.next();
        let mut ops = Vec::new();
        let mut tally = Tally::default();
        let refs: Vec<Vec<OutRef>> = group.iter().map(|d| decode_refs(&d.known)).collect();
        let mut changes = Vec::with_capacity(group.len());
        for (d, refs) in group.iter().zip(&refs) {
            let expr = trash_expr(d.w, &d.known, &d.w.attempts("delete"), retention_secs);
            ops.push(Op {
                role: Role::Item,
                action: Action::Update {
                    key: keys::item(d.w.org, d.w.collection, &d.w.id),
                    expr,
                },
            });
            ops.extend(leaving_ops(d.w.org, d.w.collection, &d.known, d.w.indexing));
            ops.extend(live_listing_op(Some(&d.known), None));
            match deleted_version(d.w, &d.known) {
                Ok(op) => ops.push(op),
                Err(_) => return None,
            }
            tally = tally.plus(Tally::change(Some(d.known.status), None));
            changes.push(RefChange {
                collection: d.w.collection,
                id: d.w.id,
                old: refs,
                new: &[],
            });
        }
        ops.extend(edge_ops(first.org, &changes, &BTreeSet::new()));
        ops.extend(count_op(first.org, first.collection, tally));
        match self.commit(ops, &attempts).await {
            Ok(_) => Some(
                group
                    .iter()
                    .map(|d| Written {
                        version: d.known.version + 1,
                        old_status: d.known.status,
                        changed: true,
                    })
                    .collect(),
            ),
            Err(failure) => {
                tracing::info!(items = group.len(), ?failure, "batch delete: a shared transaction did not commit; deleting its items one by one");
                None
            }
        }
    }

    /// Brings a deleted item back with its references. `plan` decides,
    /// before anything is written, which stored references are linked again
    /// (`content::relinks` under the current schema) and may refuse them
    /// (the caller's collection limits). A `restrict` target that is gone
    /// meanwhile → 409 naming it; a `detach` link to a gone target is
    /// dropped from the restored item.
    pub async fn restore(
        &self,
        w: &ItemWrite<'_>,
        plan: impl Fn(Vec<OutRef>) -> Result<Relinks, Error>,
    ) -> Result<Written, Error> {
        let mut retry = Retry::new(w.attempts("restore"))
            .unexpected("a restore failed as only a release would");
        let mut dropped: BTreeSet<Target> = BTreeSet::new();
        loop {
            let attempts = retry.next()?;
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
            let stored = decode_refs(&old);
            let Relinks {
                links,
                dropped: retargeted,
            } = plan(stored.clone())?;
            let (kept, mut lost): (Vec<OutRef>, Vec<OutRef>) = links
                .into_iter()
                .partition(|r| !dropped.contains(&(r.collection.clone(), r.id)));
            lost.extend(retargeted);
            let mut expr = Expr::new();
            to_live(&mut expr, &old, w.now);
            for attr in ["deleted_at", "expires_at"] {
                expr.remove_attr(attr);
            }
            expr.set_value("write_token", AttributeValue::S(attempts.write_token()));
            expr.bump_version();
            expr.when_exists("deleted_at");
            expr.when_equals("version", AttributeValue::N(old.version.to_string()));
            // Both versions come back, without the references lost, each
            // holding what is linked again (in today's mode).
            let mut back = without_refs(&old, &lost);
            back.out_refs = relinked(&kept, &back.out_refs);
            if let Some(live) = back.live.as_mut() {
                live.out_refs = relinked(&kept, &live.out_refs);
            }
            if !lost.is_empty() || back.out_refs != old.out_refs || back.live != old.live {
                expr.set_value("fields", attribute(&back.fields)?);
                if let Some(live) = &back.live {
                    expr.set_value("live", attribute(live)?);
                }
                set_out_refs(&mut expr, &back.out_refs);
            }
            let mut ops = item_ops(w, expr, &[], &kept, &BTreeSet::new());
            ops.extend(count_op(
                w.org,
                w.collection,
                Tally::change(None, Some(old.status)),
            ));
            ops.extend(entry_ops(
                w.org,
                w.collection,
                &w.id,
                w.indexing,
                None,
                Some(&back),
            ));
            ops.extend(live_listing_op(None, Some(&back)));
            back.version = old.version + 1;
            back.updated_at = w.now.to_owned();
            back.deleted_at = None;
            back.expires_at = None;
            ops.push(version_op(&back, Made::Restore, w.by)?);
            match self.commit(ops, attempts).await {
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
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(f) => retry.failed(f).await?,
            }
        }
    }
}

/// The references of `stored` (one version's, encoded) that a restore
/// links again (`kept`, in the mode the schema gives them now).
fn relinked(kept: &[OutRef], stored: &[String]) -> Vec<String> {
    let stored: Vec<OutRef> = stored.iter().filter_map(|s| OutRef::decode(s)).collect();
    kept.iter()
        .filter(|k| {
            stored
                .iter()
                .any(|r| r.collection == k.collection && r.id == k.id && r.field == k.field)
        })
        .map(OutRef::encode)
        .collect()
}
