//! Reference cleanup after a delete or purge (docs/design.md §7): every
//! item that points at the deleted item through a `detach` field loses that
//! reference, one conditional transaction per referrer. Each transaction
//! changes the referrer (a new version, so an ordinary change with its own
//! event), deletes its edge, and holds only while the target is still
//! deleted or gone: a restore that lands first wins, and the cleanup stops.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{Action, Op, Retry, Role, Target, WriteFailure};
use super::entries::Indexing;
use super::expr::Expr;
use super::keys;
use super::writes::{decode_refs, move_ops, without_refs, ItemWrite, Pending};
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::{Action as Made, Author, OutRef};
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId, OrgId};
use folio_core::schema::OnDelete;

/// What detaching one referrer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detached {
    /// The referrer no longer points at the target; its new version.
    Done { version: u64 },
    /// The referrer held no `detach` reference to the target (any more).
    NotHeld,
    /// The target is live again: the cleanup stops.
    TargetLive,
}

/// One page of a target's `detach` referrers, and where the next starts.
#[derive(Debug, Clone, Default)]
pub struct EdgePage {
    pub referrers: Vec<Target>,
    /// The sort key of the last edge read, when more may follow.
    pub next: Option<String>,
}

impl Store {
    /// Up to `limit` edges of `target` (from after `after`), keeping those
    /// of `detach` references.
    pub async fn detach_referrers(
        &self,
        org: &OrgId,
        target: (&CollectionKey, &ItemId),
        after: Option<&str>,
        limit: i32,
    ) -> Result<EdgePage, Error> {
        let pk = keys::item_pk(org, target.0, target.1);
        let mut q = self
            .ddb
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .filter_expression("attribute_exists(#detach)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_names("#detach", "detach")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(":prefix", AttributeValue::S(keys::EDGE_PREFIX.into()))
            .limit(limit);
        if let Some(after) = after {
            q = q
                .exclusive_start_key(keys::PK, AttributeValue::S(pk))
                .exclusive_start_key(keys::SK, AttributeValue::S(after.to_owned()));
        }
        let out = q.send().await.map_err(from_sdk)?;
        let referrers = out
            .items()
            .iter()
            .filter_map(|edge| {
                let s = |k: &str| edge.get(k).and_then(|v| v.as_s().ok());
                Some((
                    CollectionKey::parse(s("ref_collection")?).ok()?,
                    ItemId::parse(s("ref_id")?).ok()?,
                ))
            })
            .collect();
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get(keys::SK))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok(EdgePage { referrers, next })
    }

    /// Removes `target` from the `detach` fields of `referrer`, if the
    /// target is still deleted or gone. `request_id` names the job, so a
    /// retry after a lost response recognises its own write.
    pub async fn detach(
        &self,
        org: &OrgId,
        target: (&CollectionKey, &ItemId),
        referrer: (&CollectionKey, &ItemId),
        now: &str,
        request_id: &str,
        indexing: &Indexing,
    ) -> Result<Detached, Error> {
        let by = Author::worker(request_id);
        let w = ItemWrite {
            org,
            collection: referrer.0,
            id: *referrer.1,
            now,
            expected: None,
            request_id,
            indexing,
            by: &by,
        };
        let mut retry =
            Retry::new(w.attempts("detach")).unexpected("a detach failed as a link would");
        let held = |r: &OutRef| {
            r.collection == *target.0 && r.id == *target.1 && r.on_delete == OnDelete::Detach
        };
        let mut gone = BTreeSet::new();
        // The referrer as a failed condition handed it back, else read.
        let mut known = None;
        loop {
            let attempts = retry.next()?;
            let item = match known.take() {
                Some(item) => item,
                None => match self.get_item(org, referrer.0, referrer.1).await? {
                    Some(item) => item,
                    None => return Ok(Detached::NotHeld),
                },
            };
            if item.write_token.as_deref() == Some(attempts.write_token().as_str()) {
                return Ok(Detached::Done {
                    version: item.version,
                });
            }
            let old_refs = decode_refs(&item);
            if item.deleted_at.is_some() || !old_refs.iter().any(held) {
                return Ok(Detached::NotHeld);
            }
            let lost: Vec<OutRef> = old_refs.iter().filter(|r| held(r)).cloned().collect();
            // Out of both versions: a draft's reference goes as the live one's does.
            let mut after = without_refs(&item, &lost);
            after.version = item.version + 1;
            after.updated_at = now.to_owned();
            let mut ops = move_ops(
                &w,
                (&item, &after),
                Made::Detach,
                Pending::Keep,
                attempts.write_token(),
                &gone,
            )?;
            let mut still_deleted = Expr::new();
            let pk = still_deleted.name(keys::PK);
            let deleted = still_deleted.name("deleted_at");
            still_deleted.when(format!(
                "attribute_not_exists({pk}) OR attribute_exists({deleted})"
            ));
            ops.push(Op {
                role: Role::StillDeleted,
                action: Action::Check {
                    key: keys::item(org, target.0, target.1),
                    expr: still_deleted,
                },
            });
            match self.commit(ops, attempts).await {
                Ok(_) => {
                    return Ok(Detached::Done {
                        version: item.version + 1,
                    })
                }
                Err(WriteFailure::Restored) => return Ok(Detached::TargetLive),
                // The referrer changed meanwhile: plan again on it as it is.
                Err(WriteFailure::Item(Some(now))) => known = Some(*now),
                Err(WriteFailure::Item(None)) => return Ok(Detached::NotHeld),
                Err(WriteFailure::GoneTargets(g)) => gone.extend(g),
                Err(f) => retry.failed(f).await?,
            }
        }
    }
}
