//! Changing a live item: replace (PUT) and patch (PATCH), one request
//! per attempt. Without a known old item a change is tried as one
//! UpdateItem; a lost race re-plans from the item the failed condition
//! handed back, and a write that changes nothing keeps the item's version.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::{
    decode_refs, item_ops, missing_target_errors, set_out_refs, still_writable, too_large,
    ItemWrite, Written,
};
use crate::commit::{Retry, WriteFailure};
use crate::entries::{entry_ops, Shown};
use crate::expr::Expr;
use crate::pages::{count_op, Tally};
use crate::record::{set_status, touch, when_live};
use crate::refs::check_target_limit;
use crate::size::{item_size, MAX_ITEM_BYTES};
use crate::Store;
use folio_core::content::{ItemRecord, OutRef, Status};
use folio_core::error::Error;

/// A PUT or PATCH as planned against what is known of the item.
pub(crate) struct Planned {
    /// The item's own changes, with a condition that holds only if they
    /// change something.
    pub expr: Expr,
    /// The item's references after the write; None: left as they are.
    pub new_refs: Option<Vec<OutRef>>,
    /// The status the write sets (already in `expr`); None: left as it is.
    pub status: Option<Status>,
    /// Every field value after the write, when the plan knows them (the
    /// old item was given, or the write replaces them all).
    pub fields: Option<BTreeMap<String, Value>>,
}

/// `attribute_not_exists(path) OR path <> :v`: the path would change.
fn differs(expr: &mut Expr, path: &str, value: AttributeValue) -> String {
    let v = expr.value(value);
    format!("attribute_not_exists({path}) OR {path} <> {v}")
}

impl Store {
    /// Replaces every field of a live item (PUT).
    pub async fn replace_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<Written, Error> {
        let fields = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(values)
            .map_err(Error::internal)?;
        if item_size(&HashMap::from([("fields".to_owned(), fields.clone())]))
            > MAX_ITEM_BYTES - 4096
        {
            return Err(too_large(""));
        }
        check_target_limit(refs, "")?;
        self.versioned_write(w, |_| {
            let mut expr = Expr::new();
            let f = expr.name("fields");
            let mut changed = vec![differs(&mut expr, &f, fields.clone())];
            expr.set_value("fields", fields.clone());
            if let Some(s) = status {
                let n = expr.name("status");
                changed.push(differs(&mut expr, &n, AttributeValue::S(s.as_str().into())));
                set_status(&mut expr, w.org, w.collection, s);
            }
            expr.when(changed.join(" OR "));
            Ok(Planned {
                expr,
                new_refs: Some(refs.to_vec()),
                status,
                fields: Some(values.clone()),
            })
        })
        .await
    }

    /// Changes only the given fields (PATCH): each is its own attribute path,
    /// so concurrent patches of different fields all survive. `ref_fields`
    /// holds the new references of every patched reference field.
    pub async fn patch_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        changes: &BTreeMap<String, Option<Value>>,
        ref_fields: &BTreeMap<String, Vec<OutRef>>,
    ) -> Result<Written, Error> {
        if changes.is_empty() && status.is_none() {
            return self.unchanged(w).await;
        }
        let mut values = Vec::with_capacity(changes.len());
        for (k, v) in changes {
            let v = v
                .as_ref()
                .map(serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value)
                .transpose()
                .map_err(Error::internal)?;
            values.push((k.clone(), v));
        }
        let patch_size: usize = values
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .map(|(k, v)| item_size(&HashMap::from([(k.clone(), v.clone())])))
            .sum();
        if patch_size > MAX_ITEM_BYTES {
            return Err(too_large(""));
        }
        self.versioned_write(w, |old| {
            let mut expr = Expr::new();
            let mut changed = Vec::new();
            for (k, v) in &values {
                let path = format!("{}.{}", expr.name("fields"), expr.name(k));
                match v {
                    Some(v) => {
                        changed.push(differs(&mut expr, &path, v.clone()));
                        let v = expr.value(v.clone());
                        expr.set(format!("{path} = {v}"));
                    }
                    None => {
                        changed.push(format!("attribute_exists({path})"));
                        expr.remove(path);
                    }
                }
            }
            if let Some(s) = status {
                let n = expr.name("status");
                changed.push(differs(&mut expr, &n, AttributeValue::S(s.as_str().into())));
                set_status(&mut expr, w.org, w.collection, s);
            }
            expr.when(changed.join(" OR "));
            let fields = old.map(|o| {
                let mut fields = o.fields.clone();
                for (k, v) in changes {
                    match v {
                        Some(v) => fields.insert(k.clone(), v.clone()),
                        None => fields.remove(k),
                    };
                }
                fields
            });
            // Only a patch of reference fields touches references; others
            // stay one UpdateItem whatever the item points at.
            if ref_fields.is_empty() {
                return Ok(Planned {
                    expr,
                    new_refs: None,
                    status,
                    fields,
                });
            }
            let old_refs = old.map(decode_refs).unwrap_or_default();
            let mut new_refs: Vec<OutRef> = old_refs
                .into_iter()
                .filter(|r| !ref_fields.contains_key(&r.field))
                .collect();
            new_refs.extend(ref_fields.values().flatten().cloned());
            new_refs.sort();
            check_target_limit(&new_refs, "")?;
            Ok(Planned {
                expr,
                new_refs: Some(new_refs),
                status,
                fields,
            })
        })
        .await
    }

    /// The item a write is about, read (strongly consistent) when a write
    /// needs it before writing: live and at the version the client expects.
    pub(crate) async fn read_writable(&self, w: &ItemWrite<'_>) -> Result<ItemRecord, Error> {
        let item = self
            .get_item(w.org, w.collection, &w.id)
            .await?
            .ok_or(Error::NotFound)?;
        still_writable(&item, w.expected)?;
        Ok(item)
    }

    /// A write that asks for no change: the item's version as it is.
    async fn unchanged(&self, w: &ItemWrite<'_>) -> Result<Written, Error> {
        let item = self.read_writable(w).await?;
        Ok(Written {
            version: item.version,
            old_status: item.status,
            changed: false,
        })
    }

    /// The shared path of PUT and PATCH. `plan(old)` returns the item's
    /// update and its references after the write. Without a known old item
    /// the write is tried as one UpdateItem guarded so that it cannot change
    /// references; when that guard fails, the old item it returns drives a
    /// transaction conditioned on the version it read.
    async fn versioned_write<F>(&self, w: &ItemWrite<'_>, plan: F) -> Result<Written, Error>
    where
        F: Fn(Option<&ItemRecord>) -> Result<Planned, Error>,
    {
        let mut retry =
            Retry::new(w.attempts("write")).unexpected("unexpected idempotency failure");
        let mut known: Option<ItemRecord> = None;
        let mut gone = BTreeSet::new();
        loop {
            let attempts = retry.next()?;
            let Planned {
                mut expr,
                new_refs,
                status,
                fields,
            } = plan(known.as_ref())?;
            let links = new_refs.as_ref().is_some_and(|r| !r.is_empty());
            if known.is_none() && (links || !w.indexing.is_empty()) {
                // Linking and moving index entries take a transaction,
                // which returns no old item: read it first (its version
                // then guards the transaction), as the entries need it.
                known = Some(self.read_writable(w).await?);
                continue;
            }
            touch(&mut expr, &w.id, w.now);
            expr.set_value("write_token", AttributeValue::S(attempts.write_token()));
            expr.bump_version();
            when_live(&mut expr);
            if let Some(v) = w.expected.or(known.as_ref().map(|k| k.version)) {
                expr.when_equals("version", AttributeValue::N(v.to_string()));
            }
            // A status change moves the collection's counts, which takes the
            // status before the write: unread, it is assumed unchanged (and
            // a failed condition hands back the item to see it).
            let tally = match (status, known.as_ref()) {
                (Some(new), Some(k)) => Tally::change(Some(k.status), Some(new)),
                (Some(new), None) => {
                    expr.when_equals("status", AttributeValue::S(new.as_str().into()));
                    Tally::default()
                }
                (None, _) => Tally::default(),
            };
            let old_refs = known.as_ref().map(decode_refs).unwrap_or_default();
            if let Some(refs) = &new_refs {
                if known.is_none() {
                    // Unread, the item is assumed to reference nothing; if it
                    // does, the failed condition hands back the item to see them.
                    expr.when_absent("out_refs");
                }
                set_out_refs(&mut expr, refs);
            }
            let mut ops = match &new_refs {
                Some(refs) => item_ops(w, expr, &old_refs, refs, &gone),
                None => item_ops(w, expr, &[], &[], &gone),
            };
            ops.extend(count_op(w.org, w.collection, tally));
            if let Some(k) = known.as_ref() {
                let after = Shown {
                    fields: fields.as_ref().unwrap_or(&k.fields),
                    status: status.unwrap_or(k.status),
                };
                ops.extend(entry_ops(
                    w.org,
                    w.collection,
                    &w.id,
                    w.indexing,
                    Some(k.into()),
                    Some(after),
                ));
            }
            match self.commit(ops, attempts).await {
                Ok(committed) => return Written::from_commit(committed, known),
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(now))) => {
                    still_writable(&now, w.expected)?;
                    let moved = known.as_ref().is_some_and(|k| k.version != now.version);
                    let unseen_refs =
                        known.is_none() && new_refs.is_some() && !now.out_refs.is_empty();
                    let status_moves = known.is_none() && status.is_some_and(|s| s != now.status);
                    if moved || unseen_refs || status_moves {
                        known = Some(*now);
                        continue;
                    }
                    // Live, at the version planned against, references as
                    // assumed: only "this changes something" failed.
                    return Ok(Written {
                        version: now.version,
                        old_status: now.status,
                        changed: false,
                    });
                }
                Err(WriteFailure::MissingTargets(missing)) => {
                    let refs = new_refs.unwrap_or_default();
                    return Err(Error::Invalid(missing_target_errors(&missing, &refs, "")));
                }
                Err(WriteFailure::GoneTargets(g)) => gone.extend(g),
                // Only with indexed fields: replacing every one of 24
                // references by 24 others while indexed values change.
                Err(WriteFailure::TooMany) => {
                    return Err(Error::bad_request(
                        "This write changes more than 100 stored records (the item, its old and new references, its index entries); change fewer references at once.",
                    ))
                }
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(f) => retry.failed(f).await?,
            }
        }
    }
}
