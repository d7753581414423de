//! Reference edges. A reference from item R to item T is an edge item in
//! T's partition (`keys::edge`) plus, for `restrict` references, one count
//! in T's `restrict_count`, which the soft delete's condition requires to
//! be 0. Both are written in R's own transaction, and linking requires T
//! to be live, so DynamoDB serializes a new reference with T's delete: a
//! reference can never dangle, and T may have any number of referrers.
//!
//! Cost per target whose edge changes: at most two actions (T's counter or
//! liveness check, and the edge). A write touches the targets before and
//! after it, so `MAX_TARGETS` is what keeps every write in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{Action, Op, Role, Target, MAX_ACTIONS};
use super::expr::Expr;
use super::keys;
use super::record::when_live;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::{distinct_targets, limit_message, OutRef, MAX_TARGETS};
use folio_core::error::{Error, Referrer};
use folio_core::ids::{CollectionKey, ItemId, OrgId};
use folio_core::schema::OnDelete;

// `content::MAX_TARGETS` (24 distinct targets, both versions of an item
// together) is what keeps every write in one transaction: a replace can
// release every old target and link as many new ones, two actions each,
// beside the item itself, a count shard, the version the write keeps and
// either an idempotency record (a create) or the published view's listing
// (a draft saved over a live item): 1 + 1 + 1 + 1 + 2 × 2 × 24 = 100
// (`writes::tests` checks it over every state).
const _: () = assert!(4 + 4 * MAX_TARGETS <= MAX_ACTIONS);

/// The fields of one referrer that point at one target, by mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Fields {
    restrict: BTreeSet<String>,
    detach: BTreeSet<String>,
}

impl Fields {
    fn is_empty(&self) -> bool {
        self.restrict.is_empty() && self.detach.is_empty()
    }

    /// Whether `self` has a field that `before` lacks (a new link).
    fn gains(&self, before: &Fields) -> bool {
        !self.restrict.is_subset(&before.restrict) || !self.detach.is_subset(&before.detach)
    }
}

fn by_target(refs: &[OutRef]) -> BTreeMap<Target, Fields> {
    let mut out: BTreeMap<Target, Fields> = BTreeMap::new();
    for r in refs {
        let entry = out.entry((r.collection.clone(), r.id)).or_default();
        match r.on_delete {
            OnDelete::Restrict => entry.restrict.insert(r.field.clone()),
            OnDelete::Detach => entry.detach.insert(r.field.clone()),
        };
    }
    out
}

/// Refuses a write that would leave an item with too many targets.
pub fn check_target_limit(refs: &[OutRef], prefix: &str) -> Result<(), Error> {
    if distinct_targets(refs) > MAX_TARGETS {
        return Err(Error::field(format!("{prefix}fields"), limit_message()));
    }
    Ok(())
}

/// One referrer's references before and after a write.
pub(crate) struct RefChange<'a> {
    pub collection: &'a CollectionKey,
    pub id: ItemId,
    pub old: &'a [OutRef],
    pub new: &'a [OutRef],
}

/// What one target gets from all the changes of a write.
#[derive(Default)]
struct TargetChange {
    /// Change of `restrict_count`.
    delta: i64,
    /// Some referrer gains a field on it: it must be live.
    links: bool,
}

/// The actions that move the referrers' edges from `old` to `new`: per
/// referrer and target whose fields change, the edge is put or deleted;
/// per target, one counter update or liveness check for all referrers.
/// Targets in `gone` no longer exist: releasing them needs no counter.
pub(crate) fn edge_ops(org: &OrgId, changes: &[RefChange<'_>], gone: &BTreeSet<Target>) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut targets: BTreeMap<Target, TargetChange> = BTreeMap::new();
    for change in changes {
        let old = by_target(change.old);
        let new = by_target(change.new);
        let all: BTreeSet<&Target> = old.keys().chain(new.keys()).collect();
        for target in all {
            let empty = Fields::default();
            let before = old.get(target).unwrap_or(&empty);
            let after = new.get(target).unwrap_or(&empty);
            if before == after {
                continue;
            }
            let t = targets.entry(target.clone()).or_default();
            t.links |= after.gains(before);
            t.delta +=
                i64::from(!after.restrict.is_empty()) - i64::from(!before.restrict.is_empty());
            let key = keys::edge(org, (&target.0, &target.1), (change.collection, &change.id));
            let action = if after.is_empty() {
                Action::Delete {
                    key,
                    expr: Expr::new(),
                }
            } else {
                let mut item = key;
                item.insert(
                    "ref_collection".into(),
                    AttributeValue::S(change.collection.to_string()),
                );
                item.insert("ref_id".into(), AttributeValue::S(change.id.to_string()));
                for (attr, fields) in [("restrict", &after.restrict), ("detach", &after.detach)] {
                    if !fields.is_empty() {
                        item.insert(
                            attr.into(),
                            AttributeValue::Ss(fields.iter().cloned().collect()),
                        );
                    }
                }
                if !after.restrict.is_empty() {
                    list_as_holder(&mut item);
                }
                Action::Put {
                    item,
                    expr: Expr::new(),
                }
            };
            ops.push(Op {
                role: Role::Edge,
                action,
            });
        }
    }
    for (target, change) in targets {
        let key = keys::item(org, &target.0, &target.1);
        let mut expr = Expr::new();
        if change.links {
            when_live(&mut expr);
            if change.delta != 0 {
                expr.add_number("restrict_count", change.delta);
                ops.push(Op {
                    role: Role::Link(target),
                    action: Action::Update { key, expr },
                });
            } else {
                ops.push(Op {
                    role: Role::Link(target),
                    action: Action::Check { key, expr },
                });
            }
        } else if change.delta != 0 && !gone.contains(&target) {
            // Never recreate a purged target as an empty shell.
            expr.when_exists(keys::PK);
            expr.add_number("restrict_count", change.delta);
            ops.push(Op {
                role: Role::Release(target),
                action: Action::Update { key, expr },
            });
        }
    }
    ops
}

/// Adds the `by_field` keys that list a `restrict` edge among its target's
/// holders (`keys::restrict_holders`). A put without them (a `detach`-only
/// edge) leaves the index.
fn list_as_holder(edge: &mut HashMap<String, AttributeValue>) {
    if let Some((ix_pk, ix_sk)) = keys::holder_index_keys(edge) {
        edge.insert(keys::IX_PK.into(), ix_pk);
        edge.insert(keys::IX_SK.into(), ix_sk);
    }
}

/// An item that references a target, with its fields by mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub collection: String,
    pub id: String,
    pub restrict: Vec<String>,
    pub detach: Vec<String>,
}

impl Edge {
    fn from_item(edge: &HashMap<String, AttributeValue>) -> Edge {
        let s = |k: &str| {
            edge.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let set = |k: &str| {
            let mut v = edge
                .get(k)
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default();
            v.sort();
            v
        };
        Edge {
            collection: s("ref_collection"),
            id: s("ref_id"),
            restrict: set("restrict"),
            detach: set("detach"),
        }
    }
}

impl Store {
    /// The first `limit` items that reference `target` (only those holding
    /// a `restrict` reference when `restrict_only`), in key order.
    pub async fn referrers(
        &self,
        org: &OrgId,
        target: (&CollectionKey, &ItemId),
        restrict_only: bool,
        limit: usize,
    ) -> Result<Vec<Edge>, Error> {
        let pk = keys::item_pk(org, target.0, target.1);
        let mut q = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S(keys::EDGE_PREFIX.into()));
        if restrict_only {
            q = q
                .filter_expression("attribute_exists(#restrict)")
                .expression_attribute_names("#restrict", "restrict");
        }
        let mut pages = q.into_paginator().items().send();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(edge) = pages.next().await else {
                break;
            };
            out.push(Edge::from_item(&edge.map_err(from_sdk)?));
        }
        Ok(out)
    }

    /// The first `limit` edges that hold `target` through a `restrict`
    /// field, in key order, found through `by_field` (one Query of at most
    /// `limit` keys, then those edges read strongly consistent): the cost
    /// does not grow with the target's `detach` referrers. The index lags
    /// the table by a moment, so an edge just written may be missing, and
    /// one since released is dropped by the read.
    pub async fn restrict_edges(
        &self,
        org: &OrgId,
        target: (&CollectionKey, &ItemId),
        limit: usize,
    ) -> Result<Vec<Edge>, Error> {
        let holders = keys::restrict_holders(&keys::item_pk(org, target.0, target.1));
        let listed = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(keys::FIELD_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::IX_PK)
            .expression_attribute_values(":pk", AttributeValue::S(holders))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(from_sdk)?;
        let keys: Vec<keys::Key> = listed
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|k| {
                k.into_iter()
                    .filter(|(name, _)| name == keys::PK || name == keys::SK)
                    .collect()
            })
            .collect();
        let mut edges = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            edges.extend(self.get_raw(chunk.to_vec(), true).await?);
        }
        let sk = |e: &HashMap<String, AttributeValue>| {
            e.get(keys::SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        edges.sort_by_key(sk);
        Ok(edges
            .iter()
            .map(Edge::from_item)
            .filter(|e| !e.restrict.is_empty())
            .take(limit)
            .collect())
    }

    /// The first `limit` items that hold `target` in a `restrict` field,
    /// one `Referrer` per field, of the `holders` its counter says it has.
    /// Read through `by_field`; when that finds fewer than the counter
    /// allows (edges written before it listed them, until `folio-admin
    /// index references` runs, or a holder written a moment ago), the
    /// target's edges are read with a filter, as before.
    pub async fn restrict_referrers(
        &self,
        org: &OrgId,
        target: (&CollectionKey, &ItemId),
        limit: usize,
        holders: u64,
    ) -> Result<Vec<Referrer>, Error> {
        let mut edges = self.restrict_edges(org, target, limit).await?;
        let expected = usize::try_from(holders).unwrap_or(usize::MAX).min(limit);
        if edges.len() < expected {
            edges = self.referrers(org, target, true, limit).await?;
        }
        Ok(edges
            .into_iter()
            .flat_map(|e| {
                e.restrict.into_iter().map(move |field| Referrer {
                    collection: e.collection.clone(),
                    id: e.id.clone(),
                    field,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn coll(s: &str) -> CollectionKey {
        CollectionKey::parse(s).unwrap()
    }

    fn r(target: u8, field: &str, mode: OnDelete) -> OutRef {
        OutRef {
            collection: coll("people"),
            id: id(target),
            field: field.into(),
            on_delete: mode,
        }
    }

    fn id(n: u8) -> ItemId {
        ItemId::parse(&format!("01JF00000000000000000000{n:02}")).unwrap()
    }

    fn count(ops: &[Op], f: impl Fn(&Op) -> bool) -> usize {
        ops.iter().filter(|o| f(o)).count()
    }

    #[test]
    fn linking_puts_an_edge_and_counts_restrict_referrers() {
        let org = OrgId::parse("acme").unwrap();
        let c = coll("posts");
        let new = [
            r(1, "author", OnDelete::Restrict),
            r(2, "tags", OnDelete::Detach),
        ];
        let ops = edge_ops(
            &org,
            &[RefChange {
                collection: &c,
                id: id(9),
                old: &[],
                new: &new,
            }],
            &BTreeSet::new(),
        );
        assert_eq!(count(&ops, |o| matches!(o.action, Action::Put { .. })), 2);
        assert_eq!(
            count(&ops, |o| matches!(
                (&o.role, &o.action),
                (Role::Link(_), Action::Update { .. })
            )),
            1
        );
        assert_eq!(
            count(&ops, |o| matches!(
                (&o.role, &o.action),
                (Role::Link(_), Action::Check { .. })
            )),
            1
        );
    }

    #[test]
    fn unchanged_references_cost_nothing_and_releases_skip_gone_targets() {
        let org = OrgId::parse("acme").unwrap();
        let c = coll("posts");
        let refs = [r(1, "author", OnDelete::Restrict)];
        let same = edge_ops(
            &org,
            &[RefChange {
                collection: &c,
                id: id(9),
                old: &refs,
                new: &refs,
            }],
            &BTreeSet::new(),
        );
        assert!(same.is_empty());
        let release = edge_ops(
            &org,
            &[RefChange {
                collection: &c,
                id: id(9),
                old: &refs,
                new: &[],
            }],
            &BTreeSet::new(),
        );
        assert_eq!(release.len(), 2, "edge delete and counter release");
        let gone = BTreeSet::from([(coll("people"), id(1))]);
        let release = edge_ops(
            &org,
            &[RefChange {
                collection: &c,
                id: id(9),
                old: &refs,
                new: &[],
            }],
            &gone,
        );
        assert_eq!(release.len(), 1, "only the edge delete");
        assert!(matches!(release[0].action, Action::Delete { .. }));
    }

    #[test]
    fn a_batch_touches_each_target_once() {
        let org = OrgId::parse("acme").unwrap();
        let c = coll("posts");
        let refs = [r(1, "author", OnDelete::Restrict)];
        let changes: Vec<_> = (10..15)
            .map(|n| RefChange {
                collection: &c,
                id: id(n),
                old: &[],
                new: &refs,
            })
            .collect();
        let ops = edge_ops(&org, &changes, &BTreeSet::new());
        let targets = count(&ops, |o| matches!(o.role, Role::Link(_)));
        assert_eq!(targets, 1);
        let Some(Op {
            action: Action::Update { expr, .. },
            ..
        }) = ops.iter().find(|o| matches!(o.role, Role::Link(_)))
        else {
            panic!()
        };
        assert!(expr
            .values
            .values()
            .any(|v| v.as_n().ok().map(String::as_str) == Some("5")));
    }

    fn refs_strategy() -> impl Strategy<Value = Vec<OutRef>> {
        proptest::collection::vec(
            (
                0u8..60,
                prop_oneof![Just("a"), Just("b"), Just("c")],
                any::<bool>(),
            ),
            0..80,
        )
        .prop_map(|v| {
            let mut out: Vec<OutRef> = v
                .into_iter()
                .map(|(t, f, restrict)| {
                    r(
                        t,
                        f,
                        if restrict {
                            OnDelete::Restrict
                        } else {
                            OnDelete::Detach
                        },
                    )
                })
                .collect();
            out.sort();
            out.dedup_by(|a, b| a.field == b.field && a.id == b.id);
            // Keep what the limit admits: the first MAX_TARGETS targets.
            let keep: BTreeSet<ItemId> = out
                .iter()
                .map(|r| r.id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .take(MAX_TARGETS)
                .collect();
            out.retain(|r| keep.contains(&r.id));
            out
        })
    }

    proptest! {
        /// Every write an item within the limit can make (replace, patch,
        /// delete, restore, and a create with an idempotency record) fits
        /// one transaction, over random sequences of reference sets.
        #[test]
        fn every_write_fits_one_transaction(seq in proptest::collection::vec(refs_strategy(), 1..6)) {
            let org = OrgId::parse("acme").unwrap();
            let c = coll("posts");
            let mut old: Vec<OutRef> = Vec::new();
            for new in &seq {
                prop_assert!(distinct_targets(new) <= MAX_TARGETS);
                for (before, after, extra) in [
                    // Each also keeps a version; a change also moves the
                    // published view's listing.
                    (&old[..], &new[..], 4),      // replace or patch: item + count + listing + version
                    (&[][..], &new[..], 4),       // create: item + idempotency + count + version
                    (&new[..], &[][..], 4),       // delete: item + count + listing + version
                    (&[][..], &new[..], 4),       // restore: item + count + listing + version
                ] {
                    let ops = edge_ops(&org, &[RefChange { collection: &c, id: id(99), old: before, new: after }], &BTreeSet::new());
                    prop_assert!(ops.len() + extra <= MAX_ACTIONS, "{} actions", ops.len() + extra);
                }
                old = new.clone();
            }
        }
    }
}
