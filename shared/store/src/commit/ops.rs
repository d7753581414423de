//! What a write is planned as: ops, each a role (to explain a failed
//! condition) and an action; index entries as they are sent, conditioned
//! on the state believed stored, with the value counts they move (`wire`);
//! and DynamoDB's bounds, checked before sending.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Target, WriteFailure, MAX_ACTIONS, MAX_TRANSACTION_BYTES};
use crate::expr::Expr;
use crate::keys::{self, Key};
use crate::size::{item_size, value_size};

/// What an action in a write is for, to explain a failed condition.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// An item the write is about.
    Item,
    /// A target gaining a reference: must be live.
    Link(Target),
    /// A target losing a reference: must exist (a purged one holds nothing).
    Release(Target),
    /// A reference edge item; written without a condition.
    Edge,
    /// A count shard (`store::pages`); written without a condition.
    Count,
    /// The published view's listing entry of an item with a draft
    /// (`record::live_listing_op`); written without a condition.
    Listing,
    /// A version of the item (`store::versions`); its number is new, as
    /// the item's own update is conditioned on the version before.
    Version,
    /// An indexed field's entry (`store::entries`): conditioned on the
    /// entry the write believes is stored, so that its value counts move
    /// exactly with it (`Store::commit` learns the stored one on a miss).
    Entry,
    /// A deleted item whose references are being cleaned up: must still
    /// be deleted (or gone), so that a concurrent restore wins.
    StillDeleted,
    Idempotency,
    /// A schedule record (`store::schedules`): new, or pending until it ends.
    Schedule,
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    Put {
        item: Key,
        expr: Expr,
    },
    Update {
        key: Key,
        expr: Expr,
    },
    Delete {
        key: Key,
        expr: Expr,
    },
    Check {
        key: Key,
        expr: Expr,
    },
    /// An index entry (at `key`) moved from the state the write believes
    /// stored to the one it wants (None: no entry): sent as a conditioned
    /// put or delete plus the value counts it changes (`wire`).
    Entry {
        key: Key,
        from: Option<EntryKeys>,
        to: Option<EntryKeys>,
    },
}

/// A stored index entry's keys, and whether its value count holds it
/// (entries written before value counts existed do not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryKeys {
    pub ix_pk: String,
    pub ix_sk: String,
    pub counted: bool,
}

impl EntryKeys {
    /// An entry as an item: its key and index attributes.
    pub fn item(&self, key: &Key) -> Key {
        let mut item = key.clone();
        item.insert(keys::IX_PK.into(), AttributeValue::S(self.ix_pk.clone()));
        item.insert(keys::IX_SK.into(), AttributeValue::S(self.ix_sk.clone()));
        if self.counted {
            item.insert(keys::COUNTED.into(), AttributeValue::Bool(true));
        }
        item
    }

    /// The entry as stored (None: no entry).
    pub fn of(item: &HashMap<String, AttributeValue>) -> Option<EntryKeys> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(EntryKeys {
            ix_pk: s(keys::IX_PK)?,
            ix_sk: s(keys::IX_SK)?,
            counted: item
                .get(keys::COUNTED)
                .is_some_and(|v| v.as_bool().is_ok_and(|b| *b)),
        })
    }

    /// The value count this entry is counted in: its partition and
    /// encoded value (its sort key without the id). None for a missing
    /// value (`z`) or one of another type (`x`): no filter reads those.
    pub fn value(&self) -> Option<(&str, &str)> {
        let value = self.ix_sk.rsplit_once('#').map_or("", |(v, _)| v);
        (!value.starts_with(['z', 'x'])).then_some((&self.ix_pk, value))
    }

    /// The count shard this entry adds to: one per item (a hash of the
    /// id), so an item's moves in and out of a value meet on one shard
    /// item, and different items spread over all of them.
    fn shard(&self) -> u32 {
        let id = self.ix_sk.rsplit_once('#').map_or("", |(_, id)| id);
        // FNV-1a.
        let h = id.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        h % keys::COUNT_SHARDS
    }
}

/// The condition that the entry at a key is `from` (None: absent).
fn entry_condition(from: Option<&EntryKeys>) -> Expr {
    let mut expr = Expr::new();
    match from {
        None => {
            expr.when_absent(keys::PK);
        }
        Some(f) => {
            expr.when_equals(keys::IX_PK, AttributeValue::S(f.ix_pk.clone()));
            expr.when_equals(keys::IX_SK, AttributeValue::S(f.ix_sk.clone()));
            if f.counted {
                expr.when_equals(keys::COUNTED, AttributeValue::Bool(true));
            } else {
                expr.when_absent(keys::COUNTED);
            }
        }
    }
    expr
}

/// The actions sent for `ops`: each op in its place (an entry as its
/// conditioned put or delete, or a check when found as wanted), then one
/// update per value count the entries change (summed, so a transaction
/// touches each count once).
pub(super) fn wire(ops: &[Op]) -> Vec<Op> {
    let mut out = Vec::with_capacity(ops.len() + 4);
    // Per value: the change, and the shard of the first entry moving it.
    let mut counts: BTreeMap<(&str, &str), (i64, u32)> = BTreeMap::new();
    for op in ops {
        let Action::Entry { key, from, to } = &op.action else {
            out.push(op.clone());
            continue;
        };
        let expr = entry_condition(from.as_ref());
        let action = match to {
            // Found as wanted: still checked, so that an entry another
            // write moves meanwhile is seen (and learned) again.
            _ if from == to => Action::Check {
                key: key.clone(),
                expr,
            },
            Some(t) => Action::Put {
                item: t.item(key),
                expr,
            },
            None => Action::Delete {
                key: key.clone(),
                expr,
            },
        };
        out.push(Op {
            role: op.role.clone(),
            action,
        });
        if from == to {
            continue;
        }
        let moves = [(from.as_ref().filter(|f| f.counted), -1), (to.as_ref(), 1)];
        for (entry, n) in moves {
            if let Some((e, value)) = entry.and_then(|e| Some((e, e.value()?))) {
                counts.entry(value).or_insert((0, e.shard())).0 += n;
            }
        }
    }
    for ((partition, value), (n, shard)) in counts {
        if n != 0 {
            out.push(crate::pages::value_count_op(partition, value, n, shard));
        }
    }
    out
}

#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub role: Role,
    pub action: Action,
}

impl Op {
    /// Actions this op sends at most: an entry moves its value counts too.
    pub fn actions(&self) -> usize {
        match &self.action {
            Action::Entry { from, to, .. } => {
                1 + usize::from(from.is_some()) + usize::from(to.is_some())
            }
            _ => 1,
        }
    }

    /// Bytes this action adds to a transaction: keys, item, and values.
    fn size(&self) -> usize {
        let values = |e: &Expr| -> usize {
            e.values.values().map(value_size).sum::<usize>()
                + e.names.values().map(String::len).sum::<usize>()
        };
        match &self.action {
            Action::Put { item, expr } => item_size(item) + values(expr),
            Action::Update { key, expr } | Action::Check { key, expr } => {
                item_size(key) + values(expr)
            }
            Action::Delete { key, expr } => item_size(key) + values(expr),
            Action::Entry { key, from, to } => {
                let keys = |k: &Option<EntryKeys>| {
                    k.as_ref()
                        .map_or(0, |k| 2 * (k.ix_pk.len() + k.ix_sk.len()) + 64)
                };
                item_size(key) + keys(from) + keys(to)
            }
        }
    }
}

/// Checks a transaction against DynamoDB's bounds before sending it.
pub(crate) fn check_bounds(ops: &[Op]) -> Result<(), WriteFailure> {
    if ops.iter().map(Op::actions).sum::<usize>() > MAX_ACTIONS {
        return Err(WriteFailure::TooMany);
    }
    if ops.iter().map(Op::size).sum::<usize>() > MAX_TRANSACTION_BYTES {
        return Err(WriteFailure::TooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sent_conditioned_with_their_value_counts_summed() {
        let org = folio_core::ids::OrgId::parse("a").unwrap();
        let entry = |sk: &str, counted| EntryKeys {
            ix_pk: "a#c#city#p".into(),
            ix_sk: sk.into(),
            counted,
        };
        let op = |from, to| Op {
            role: Role::Entry,
            action: Action::Entry {
                key: keys::org(&org),
                from,
                to,
            },
        };
        let ops = vec![
            // Two items into `s01`, one out of `s02`, one out of an
            // uncounted `s03`, one found as wanted, one missing value.
            op(None, Some(entry("s01#A", true))),
            op(Some(entry("s02#B", true)), Some(entry("s01#B", true))),
            op(Some(entry("s03#C", false)), None),
            op(Some(entry("s04#D", true)), Some(entry("s04#D", true))),
            op(None, Some(entry("z#E", true))),
        ];
        let sent = wire(&ops);
        let kinds: Vec<&str> = sent
            .iter()
            .map(|o| match &o.action {
                Action::Put { .. } => "put",
                Action::Delete { .. } => "delete",
                Action::Check { .. } => "check",
                Action::Update { .. } => "update",
                Action::Entry { .. } => "entry",
            })
            .collect();
        assert_eq!(
            kinds,
            ["put", "put", "delete", "check", "put", "update", "update"]
        );
        let adds: Vec<(String, String)> = sent[5..]
            .iter()
            .map(|o| match &o.action {
                Action::Update { key, expr } => (
                    key["sk"]
                        .as_s()
                        .unwrap()
                        .split('#')
                        .next()
                        .unwrap()
                        .to_owned(),
                    format!("{:?}", expr.values.values().next().unwrap()),
                ),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            adds,
            [
                ("s01".to_owned(), r#"N("2")"#.to_owned()),
                ("s02".to_owned(), r#"N("-1")"#.to_owned())
            ]
        );
        // Conditioned on what the write believes stored.
        let Action::Delete { expr, .. } = &sent[2].action else {
            unreachable!()
        };
        assert_eq!(
            expr.condition_expression().unwrap(),
            "(#n0 = :v0) AND (#n1 = :v1) AND (attribute_not_exists(#n2))"
        );
        let Action::Put { expr, .. } = &sent[0].action else {
            unreachable!()
        };
        assert_eq!(
            expr.condition_expression().unwrap(),
            "(attribute_not_exists(#n0))"
        );
    }

    #[test]
    fn too_many_actions_are_refused_before_sending() {
        let op = || Op {
            role: Role::Edge,
            action: Action::Delete {
                key: keys::org(&folio_core::ids::OrgId::parse("a").unwrap()),
                expr: Expr::new(),
            },
        };
        assert!(check_bounds(&(0..MAX_ACTIONS).map(|_| op()).collect::<Vec<_>>()).is_ok());
        assert!(matches!(
            check_bounds(&(0..=MAX_ACTIONS).map(|_| op()).collect::<Vec<_>>()),
            Err(WriteFailure::TooMany)
        ));
    }
}
