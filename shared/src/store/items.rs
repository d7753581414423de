//! Conditional item writes. Each invariant of DESIGN §5 is one expression
//! here, used by every caller:
//! - create: `attribute_not_exists(pk)`;
//! - live item: `attribute_exists(pk) AND attribute_not_exists(deleted_at)`;
//! - soft delete: live AND no restrict referrers (`size(restrict_by) = 0`);
//! - versioned writes: `version = :expected`;
//! - a reference: the target's `restrict_by`/`detach_by` map gains the
//!   referrer in the same transaction as the referrer's write, on condition
//!   that the target is live. DynamoDB serializes that with the target's
//!   delete, so a reference can never dangle.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use serde_json::Value;

use super::expr::Expr;
use super::keys::{self, Key};
use super::size::{item_size, MAX_ITEM_BYTES};
use super::Store;
use crate::content::{ItemRecord, OutRef, Status};
use crate::error::{Error, FieldErrors, Referrer};
use crate::ids::{CollectionKey, ItemId, OrgId};
use crate::schema::OnDelete;

pub const LIVE: &str = "attribute_exists(pk) AND attribute_not_exists(deleted_at)";

/// How many times a write that lost a race to another write of the same
/// item re-reads and tries again before answering 409.
const RETRIES: usize = 5;

/// What a write in a transaction is for, to explain a failed condition.
#[derive(Debug, Clone)]
enum Role {
    Item,
    Target(CollectionKey, ItemId),
    Idempotency,
}

enum Write {
    Put {
        item: HashMap<String, AttributeValue>,
        expr: Expr,
        condition: String,
    },
    Update {
        key: Key,
        expr: Expr,
        condition: String,
    },
}

pub struct Op {
    role: Role,
    write: Write,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum WriteFailure {
    /// The item's own condition failed; the item as it was (None: absent).
    Item(Option<Box<ItemRecord>>),
    /// Referenced items that are missing or deleted.
    MissingTargets(Vec<(CollectionKey, ItemId)>),
    /// The idempotency record exists; here as stored.
    Idempotent(HashMap<String, AttributeValue>),
    /// Another transaction held one of the items.
    Conflict,
    TooLarge,
    Fault(Error),
}

impl From<Error> for WriteFailure {
    fn from(e: Error) -> Self {
        WriteFailure::Fault(e)
    }
}

/// A PUT or PATCH as planned against what is known of the item.
struct Planned {
    expr: Expr,
    old_refs: Vec<OutRef>,
    new_refs: Vec<OutRef>,
    /// Whether the write can change the item's references at all.
    touches_refs: bool,
}

/// Everything a write needs to say about the item it writes.
#[derive(Debug, Clone)]
pub struct ItemWrite<'a> {
    pub org: &'a OrgId,
    pub collection: &'a CollectionKey,
    pub id: ItemId,
    pub now: &'a str,
    /// `If-Match`: the version the client last saw.
    pub expected: Option<u64>,
}

/// An idempotency record written in the same transaction as a create.
#[derive(Debug, Clone)]
pub struct IdempotencyPut {
    pub key: Key,
    pub request_hash: String,
    pub response: String,
    pub expires_at: i64,
    pub now_epoch: i64,
}

fn parse_record(item: HashMap<String, AttributeValue>) -> Result<ItemRecord, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)
}

fn referrer_key(collection: &CollectionKey, id: ItemId) -> String {
    format!("{collection}#{id}")
}

/// The writes that move a set of items' references from `old` to `new`:
/// one update per target item, whatever number of referrers change on it.
pub struct RefChange<'a> {
    pub collection: &'a CollectionKey,
    pub id: ItemId,
    pub old: &'a [OutRef],
    pub new: &'a [OutRef],
}

type FieldsByMode = (Vec<String>, Vec<String>);

fn by_target(refs: &[OutRef]) -> BTreeMap<(CollectionKey, ItemId), FieldsByMode> {
    let mut out: BTreeMap<_, FieldsByMode> = BTreeMap::new();
    for r in refs {
        let entry = out.entry((r.collection.clone(), r.id)).or_default();
        match r.on_delete {
            OnDelete::Restrict => entry.0.push(r.field.clone()),
            OnDelete::Detach => entry.1.push(r.field.clone()),
        }
    }
    for (restrict, detach) in out.values_mut() {
        restrict.sort();
        restrict.dedup();
        detach.sort();
        detach.dedup();
    }
    out
}

fn ref_ops(org: &OrgId, changes: &[RefChange<'_>]) -> Vec<Op> {
    // target -> (expression, whether any change links rather than releases)
    let mut targets: BTreeMap<(CollectionKey, ItemId), (Expr, bool)> = BTreeMap::new();
    for change in changes {
        let referrer = referrer_key(change.collection, change.id);
        let old = by_target(change.old);
        let new = by_target(change.new);
        let all: BTreeSet<_> = old.keys().chain(new.keys()).cloned().collect();
        for target in all {
            let empty = FieldsByMode::default();
            let before = old.get(&target).unwrap_or(&empty);
            let after = new.get(&target).unwrap_or(&empty);
            if before == after {
                continue;
            }
            let (expr, links) = targets
                .entry(target)
                .or_insert_with(|| (Expr::new(), false));
            *links |= !after.0.is_empty() || !after.1.is_empty();
            for (attr, b, a) in [
                ("restrict_by", &before.0, &after.0),
                ("detach_by", &before.1, &after.1),
            ] {
                if b == a {
                    continue;
                }
                let path = format!("{}.{}", expr.name(attr), expr.name(&referrer));
                if a.is_empty() {
                    expr.remove(path);
                } else {
                    let v = expr.value(AttributeValue::L(
                        a.iter().cloned().map(AttributeValue::S).collect(),
                    ));
                    expr.set(format!("{path} = {v}"));
                }
            }
        }
    }
    targets
        .into_iter()
        .map(|((collection, id), (expr, links))| Op {
            write: Write::Update {
                key: keys::item(org, &collection, &id),
                expr,
                // Linking needs a live target; releasing only an existing
                // one (never recreate a purged item as an empty shell).
                condition: if links {
                    LIVE.to_owned()
                } else {
                    "attribute_exists(pk)".to_owned()
                },
            },
            role: Role::Target(collection, id),
        })
        .collect()
}

fn is_too_large(code: Option<&str>, message: Option<&str>) -> bool {
    // DynamoDB reports an oversized item only as a ValidationException (or a
    // ValidationError cancellation reason) whose message names the size.
    matches!(code, Some("ValidationException" | "ValidationError"))
        && message.is_some_and(|m| m.contains("size"))
}

impl Store {
    /// Runs the ops as one request: a single Put/Update when there is one
    /// op, else one transaction. Returns the old item of a single Update.
    async fn commit(
        &self,
        ops: Vec<Op>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, WriteFailure> {
        if ops.len() == 1 {
            let op = ops.into_iter().next().expect("one op");
            return self.commit_one(op).await;
        }
        let roles: Vec<Role> = ops.iter().map(|o| o.role.clone()).collect();
        let items = ops
            .into_iter()
            .map(|op| self.transact_item(op.write))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        let Some(service) = err.as_service_error() else {
            return Err(WriteFailure::Fault(err.into()));
        };
        if service.is_transaction_in_progress_exception() {
            return Err(WriteFailure::Conflict);
        }
        if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) = service {
            let mut missing = Vec::new();
            let mut item_failure = None;
            let mut conflict = false;
            for (reason, role) in c.cancellation_reasons().iter().zip(&roles) {
                match reason.code() {
                    Some("ConditionalCheckFailed") => match role {
                        Role::Idempotency => {
                            return Err(WriteFailure::Idempotent(reason.item().cloned().unwrap_or_default()))
                        }
                        Role::Item => {
                            let old = reason.item().filter(|i| !i.is_empty()).cloned().map(parse_record).transpose()?;
                            item_failure = Some(old.map(Box::new));
                        }
                        Role::Target(c, id) => missing.push((c.clone(), *id)),
                    },
                    Some("TransactionConflict") => conflict = true,
                    code if is_too_large(code, reason.message()) => return Err(WriteFailure::TooLarge),
                    _ => {}
                }
            }
            if let Some(old) = item_failure {
                return Err(WriteFailure::Item(old));
            }
            if !missing.is_empty() {
                return Err(WriteFailure::MissingTargets(missing));
            }
            if conflict {
                return Err(WriteFailure::Conflict);
            }
        }
        if is_too_large(err.code(), err.message()) {
            return Err(WriteFailure::TooLarge);
        }
        Err(WriteFailure::Fault(err.into()))
    }

    async fn commit_one(
        &self,
        op: Op,
    ) -> Result<Option<HashMap<String, AttributeValue>>, WriteFailure> {
        let failure = |old: Option<HashMap<String, AttributeValue>>| -> WriteFailure {
            match &op.role {
                Role::Idempotency => WriteFailure::Idempotent(old.unwrap_or_default()),
                Role::Target(c, id) => WriteFailure::MissingTargets(vec![(c.clone(), *id)]),
                Role::Item => match old.filter(|i| !i.is_empty()).map(parse_record).transpose() {
                    Ok(old) => WriteFailure::Item(old.map(Box::new)),
                    Err(e) => WriteFailure::Fault(e),
                },
            }
        };
        match &op.write {
            Write::Put {
                item,
                expr,
                condition,
            } => {
                let r = self
                    .ddb
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item.clone()))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .send()
                    .await;
                match r {
                    Ok(_) => Ok(None),
                    Err(SdkError::ServiceError(e))
                        if e.err().is_conditional_check_failed_exception() =>
                    {
                        let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) = e.into_err() else {
                            unreachable!("checked above")
                        };
                        Err(failure(c.item))
                    }
                    Err(e) if is_too_large(e.code(), e.message()) => Err(WriteFailure::TooLarge),
                    Err(e) => Err(WriteFailure::Fault(e.into())),
                }
            }
            Write::Update {
                key,
                expr,
                condition,
            } => {
                let r = self
                    .ddb
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .update_expression(expr.update_expression())
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values(ReturnValue::AllOld)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .send()
                    .await;
                match r {
                    Ok(out) => Ok(out.attributes),
                    Err(SdkError::ServiceError(e))
                        if e.err().is_conditional_check_failed_exception() =>
                    {
                        let aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) = e.into_err() else {
                            unreachable!("checked above")
                        };
                        Err(failure(c.item))
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_transaction_conflict_exception()) =>
                    {
                        Err(WriteFailure::Conflict)
                    }
                    Err(e) if is_too_large(e.code(), e.message()) => Err(WriteFailure::TooLarge),
                    Err(e) => Err(WriteFailure::Fault(e.into())),
                }
            }
        }
    }

    fn transact_item(&self, write: Write) -> Result<TransactWriteItem, Error> {
        let item = match write {
            Write::Put {
                item,
                expr,
                condition,
            } => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(Error::internal)?,
            ),
            Write::Update {
                key,
                expr,
                condition,
            } => TransactWriteItem::builder().update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(expr.update_expression())
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(Error::internal)?,
            ),
        };
        Ok(item.build())
    }

    /// The item as stored, deleted or not (strongly consistent).
    pub async fn get_item(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        id: &ItemId,
    ) -> Result<Option<ItemRecord>, Error> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::item(org, collection, id)))
            .consistent_read(true)
            .send()
            .await?;
        out.item.map(parse_record).transpose()
    }

    /// Every live item of a collection, in creation order, from the sparse
    /// `live` index (never a Scan).
    pub async fn list_live(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
    ) -> Result<Vec<ItemRecord>, Error> {
        self.query_index(
            keys::LIVE_INDEX,
            "live_pk",
            keys::collection_partition(org, collection),
            None,
        )
        .await
    }

    /// Deleted items of a collection, oldest deletion first, optionally
    /// only those deleted after `after` (RFC 3339).
    pub async fn list_deleted(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        after: Option<&str>,
    ) -> Result<Vec<ItemRecord>, Error> {
        self.query_index(
            keys::TRASH_INDEX,
            "trash_pk",
            keys::collection_partition(org, collection),
            after,
        )
        .await
    }

    async fn query_index(
        &self,
        index: &str,
        pk: &str,
        partition: String,
        sk_after: Option<&str>,
    ) -> Result<Vec<ItemRecord>, Error> {
        let mut q = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":p", AttributeValue::S(partition));
        q = match sk_after {
            Some(after) => q
                .key_condition_expression("#pk = :p AND #sk > :after")
                .expression_attribute_names("#sk", index_sk(index))
                .expression_attribute_values(":after", AttributeValue::S(after.to_owned())),
            None => q.key_condition_expression("#pk = :p"),
        };
        let mut pages = q.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(parse_record(item.map_err(Error::internal)?)?);
        }
        Ok(out)
    }

    /// Creates items (1–25) atomically with their references and, when
    /// given, the idempotency record. `prefixes[i]` goes before the field
    /// names of item i in errors.
    pub async fn create_items(
        &self,
        records: &[ItemRecord],
        refs: &[Vec<OutRef>],
        prefixes: &[String],
        idempotency: Option<&IdempotencyPut>,
    ) -> Result<(), WriteFailure> {
        let mut ops = Vec::with_capacity(records.len() + 1);
        for (i, record) in records.iter().enumerate() {
            let mut item: HashMap<String, AttributeValue> =
                serde_dynamo::aws_sdk_dynamodb_1::to_item(record).map_err(Error::internal)?;
            item.extend(keys::item(&record.org, &record.collection, &record.id));
            if item_size(&item) > MAX_ITEM_BYTES {
                return Err(WriteFailure::Fault(too_large(&prefixes[i])));
            }
            ops.push(Op {
                role: Role::Item,
                write: Write::Put {
                    item,
                    expr: Expr::new(),
                    condition: "attribute_not_exists(pk)".into(),
                },
            });
        }
        let changes: Vec<RefChange<'_>> = records
            .iter()
            .zip(refs)
            .map(|(r, refs)| RefChange {
                collection: &r.collection,
                id: r.id,
                old: &[],
                new: refs,
            })
            .collect();
        if let Some(first) = records.first() {
            ops.extend(ref_ops(&first.org, &changes));
        }
        if let Some(idem) = idempotency {
            let mut expr = Expr::new();
            let now = expr.value(AttributeValue::N(idem.now_epoch.to_string()));
            let item = HashMap::from_iter(idem.key.clone().into_iter().chain([
                (
                    "request_hash".to_owned(),
                    AttributeValue::S(idem.request_hash.clone()),
                ),
                (
                    "response".to_owned(),
                    AttributeValue::S(idem.response.clone()),
                ),
                (
                    "expires_at".to_owned(),
                    AttributeValue::N(idem.expires_at.to_string()),
                ),
            ]));
            // An expired record (TTL lags) counts as absent.
            ops.push(Op {
                role: Role::Idempotency,
                write: Write::Put {
                    item,
                    expr,
                    condition: format!("attribute_not_exists(pk) OR expires_at < {now}"),
                },
            });
        }
        if ops.len() > 100 {
            return Err(WriteFailure::Fault(Error::bad_request(
                "This request touches more than 100 items (created items plus referenced items); split it.",
            )));
        }
        self.commit(ops).await.map(|_| ())
    }

    /// Replaces every field of a live item (PUT). Returns the item as it
    /// was before and its new version.
    pub async fn replace_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<(ItemRecord, u64), Error> {
        let fields = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(values)
            .map_err(Error::internal)?;
        if item_size(&HashMap::from([("fields".to_owned(), fields.clone())]))
            > MAX_ITEM_BYTES - 4096
        {
            return Err(too_large(""));
        }
        let encoded: Vec<String> = refs.iter().map(OutRef::encode).collect();
        self.versioned_write(w, |old| {
            let mut expr = Expr::new();
            expr.set_value("fields", fields.clone());
            if let Some(s) = status {
                expr.set_value("status", AttributeValue::S(s.as_str().into()));
            }
            set_out_refs(&mut expr, &encoded);
            let old_refs = old.map(decode_refs).unwrap_or_default();
            Planned {
                expr,
                old_refs,
                new_refs: refs.to_vec(),
                touches_refs: true,
            }
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
    ) -> Result<(ItemRecord, u64), Error> {
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
            for (k, v) in &values {
                let path = format!("{}.{}", expr.name("fields"), expr.name(k));
                match v {
                    Some(v) => {
                        let v = expr.value(v.clone());
                        expr.set(format!("{path} = {v}"));
                    }
                    None => {
                        expr.remove(path);
                    }
                }
            }
            if let Some(s) = status {
                expr.set_value("status", AttributeValue::S(s.as_str().into()));
            }
            // Only a patch of reference fields touches references; others
            // stay one UpdateItem whatever the item points at.
            if ref_fields.is_empty() {
                return Planned {
                    expr,
                    old_refs: Vec::new(),
                    new_refs: Vec::new(),
                    touches_refs: false,
                };
            }
            let old_refs = old.map(decode_refs).unwrap_or_default();
            let mut new_refs: Vec<OutRef> = old_refs
                .iter()
                .filter(|r| !ref_fields.contains_key(&r.field))
                .cloned()
                .collect();
            new_refs.extend(ref_fields.values().flatten().cloned());
            new_refs.sort();
            set_out_refs(
                &mut expr,
                &new_refs.iter().map(OutRef::encode).collect::<Vec<_>>(),
            );
            Planned {
                expr,
                old_refs,
                new_refs,
                touches_refs: true,
            }
        })
        .await
    }

    /// The shared path of PUT and PATCH. `build(old)` returns the update of
    /// the item and its references before and after. Without a known old
    /// item the write is tried as one UpdateItem guarded so that it cannot
    /// change references; when that guard fails, the old item it returns
    /// drives a transaction conditioned on the version it read.
    async fn versioned_write<F>(
        &self,
        w: &ItemWrite<'_>,
        build: F,
    ) -> Result<(ItemRecord, u64), Error>
    where
        F: Fn(Option<&ItemRecord>) -> Planned,
    {
        let mut known: Option<ItemRecord> = None;
        for _ in 0..RETRIES {
            let Planned {
                mut expr,
                old_refs,
                new_refs,
                touches_refs,
            } = build(known.as_ref());
            if known.is_none() && !new_refs.is_empty() {
                // Linking takes a transaction, which returns no old item:
                // read it first (its version then guards the transaction).
                match self.get_item(w.org, w.collection, &w.id).await? {
                    Some(item) if item.is_live(now_epoch()) => {
                        if let Some(expected) = w.expected.filter(|e| *e != item.version) {
                            return Err(Error::VersionMismatch {
                                expected,
                                current: item.version,
                            });
                        }
                        known = Some(item);
                        continue;
                    }
                    _ => return Err(Error::NotFound),
                }
            }
            let now = expr.value(AttributeValue::S(w.now.to_owned()));
            let updated = expr.name("updated_at");
            expr.set(format!("{updated} = {now}"));
            let version = expr.bump_version();
            let mut condition = LIVE.to_owned();
            let guard_version = w.expected.or(known.as_ref().map(|k| k.version));
            if let Some(v) = guard_version {
                let v = expr.value(AttributeValue::N(v.to_string()));
                condition.push_str(&format!(" AND {version} = {v}"));
            }
            if known.is_none() && touches_refs {
                // Unread, the item is assumed to reference nothing; if it
                // does, the failed condition hands back the item to see them.
                let out_refs = expr.name("out_refs");
                condition.push_str(&format!(" AND attribute_not_exists({out_refs})"));
            }
            let mut ops = vec![Op {
                role: Role::Item,
                write: Write::Update {
                    key: keys::item(w.org, w.collection, &w.id),
                    expr,
                    condition,
                },
            }];
            ops.extend(ref_ops(
                w.org,
                &[RefChange {
                    collection: w.collection,
                    id: w.id,
                    old: &old_refs,
                    new: &new_refs,
                }],
            ));
            match self.commit(ops).await {
                Ok(Some(old)) => {
                    let old = parse_record(old)?;
                    let v = old.version + 1;
                    return Ok((old, v));
                }
                Ok(None) => {
                    let old = known.expect("a transaction runs only after a read");
                    let v = old.version + 1;
                    return Ok((old, v));
                }
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(old))) => {
                    if !old.is_live(now_epoch()) {
                        return Err(Error::NotFound);
                    }
                    if let Some(expected) = w.expected {
                        if old.version != expected {
                            return Err(Error::VersionMismatch {
                                expected,
                                current: old.version,
                            });
                        }
                    }
                    known = Some(*old);
                }
                Err(WriteFailure::MissingTargets(missing)) => {
                    return Err(missing_targets(&missing, &new_refs, ""))
                }
                Err(WriteFailure::Conflict) => {
                    known = None;
                }
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(WriteFailure::Idempotent(_)) => {
                    return Err(Error::internal("unexpected idempotency failure"))
                }
                Err(WriteFailure::Fault(e)) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "The item is being changed by other requests; try again.".into(),
        ))
    }

    /// Soft-deletes a live item that no live item references through a
    /// `restrict` field, releasing the references it makes. Returns the
    /// item as it was. One UpdateItem when the item references nothing.
    pub async fn soft_delete(
        &self,
        w: &ItemWrite<'_>,
        retention_secs: i64,
    ) -> Result<ItemRecord, Error> {
        let mut known: Option<ItemRecord> = None;
        for _ in 0..RETRIES {
            let mut expr = Expr::new();
            let now = expr.value(AttributeValue::S(w.now.to_owned()));
            for attr in ["deleted_at", "updated_at"] {
                let n = expr.name(attr);
                expr.set(format!("{n} = {now}"));
            }
            expr.set_value(
                "trash_pk",
                AttributeValue::S(keys::collection_partition(w.org, w.collection)),
            );
            expr.set_value("trash_sk", AttributeValue::S(format!("{}#{}", w.now, w.id)));
            expr.set_value(
                "expires_at",
                AttributeValue::N((now_epoch() + retention_secs).to_string()),
            );
            let version = expr.bump_version();
            expr.remove_attr("live_pk");
            expr.remove_attr("live_sk");
            let restrict = expr.name("restrict_by");
            let zero = expr.value(AttributeValue::N("0".into()));
            let mut condition = format!(
                "{LIVE} AND (attribute_not_exists({restrict}) OR size({restrict}) = {zero})"
            );
            let old_refs = known.as_ref().map(decode_refs).unwrap_or_default();
            match &known {
                None => {
                    let out_refs = expr.name("out_refs");
                    condition.push_str(&format!(" AND attribute_not_exists({out_refs})"));
                }
                Some(k) => {
                    let v = expr.value(AttributeValue::N(k.version.to_string()));
                    condition.push_str(&format!(" AND {version} = {v}"));
                }
            }
            let mut ops = vec![Op {
                role: Role::Item,
                write: Write::Update {
                    key: keys::item(w.org, w.collection, &w.id),
                    expr,
                    condition,
                },
            }];
            ops.extend(ref_ops(
                w.org,
                &[RefChange {
                    collection: w.collection,
                    id: w.id,
                    old: &old_refs,
                    new: &[],
                }],
            ));
            match self.commit(ops).await {
                Ok(Some(old)) => return parse_record(old),
                Ok(None) => return Ok(known.expect("a transaction runs only after a read")),
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(old))) => {
                    if !old.is_live(now_epoch()) {
                        return Err(Error::NotFound);
                    }
                    if !old.restrict_by.is_empty() {
                        return Err(Error::Referenced {
                            by: referrers(&old.restrict_by),
                        });
                    }
                    known = Some(*old);
                }
                // A release of a purged target: it holds nothing to release.
                Err(WriteFailure::MissingTargets(_)) | Err(WriteFailure::Conflict) => known = None,
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(WriteFailure::Idempotent(_)) => {
                    return Err(Error::internal("unexpected idempotency failure"))
                }
                Err(WriteFailure::Fault(e)) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "The item is being changed by other requests; try again.".into(),
        ))
    }

    /// Brings a deleted item back with its outgoing references. A target
    /// that is gone meanwhile → 409 naming it.
    pub async fn restore(&self, w: &ItemWrite<'_>) -> Result<ItemRecord, Error> {
        for _ in 0..RETRIES {
            let Some(old) = self.get_item(w.org, w.collection, &w.id).await? else {
                return Err(Error::NotFound);
            };
            if old.deleted_at.is_none() || old.expires_at.is_some_and(|t| t <= now_epoch()) {
                return Err(Error::NotFound);
            }
            let refs = decode_refs(&old);
            let mut expr = Expr::new();
            expr.set_value(
                "live_pk",
                AttributeValue::S(keys::collection_partition(w.org, w.collection)),
            );
            expr.set_value("live_sk", AttributeValue::S(w.id.to_string()));
            expr.set_value("updated_at", AttributeValue::S(w.now.to_owned()));
            let version = expr.bump_version();
            for attr in ["deleted_at", "trash_pk", "trash_sk", "expires_at"] {
                expr.remove_attr(attr);
            }
            let v = expr.value(AttributeValue::N(old.version.to_string()));
            let deleted = expr.name("deleted_at");
            let condition = format!("attribute_exists({deleted}) AND {version} = {v}");
            let mut ops = vec![Op {
                role: Role::Item,
                write: Write::Update {
                    key: keys::item(w.org, w.collection, &w.id),
                    expr,
                    condition,
                },
            }];
            ops.extend(ref_ops(
                w.org,
                &[RefChange {
                    collection: w.collection,
                    id: w.id,
                    old: &[],
                    new: &refs,
                }],
            ));
            match self.commit(ops).await {
                Ok(_) => return Ok(old),
                Err(WriteFailure::Item(_)) | Err(WriteFailure::Conflict) => continue,
                Err(WriteFailure::MissingTargets(missing)) => {
                    let names: Vec<String> =
                        missing.iter().map(|(c, id)| format!("{c}/{id}")).collect();
                    return Err(Error::Conflict(format!(
                        "This item references content that no longer exists: {}. Restore or recreate it first.",
                        names.join(", ")
                    )));
                }
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(WriteFailure::Idempotent(_)) => {
                    return Err(Error::internal("unexpected idempotency failure"))
                }
                Err(WriteFailure::Fault(e)) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "The item is being changed by other requests; try again.".into(),
        ))
    }
}

fn index_sk(index: &str) -> &'static str {
    if index == keys::TRASH_INDEX {
        "trash_sk"
    } else {
        "live_sk"
    }
}

fn set_out_refs(expr: &mut Expr, encoded: &[String]) {
    if encoded.is_empty() {
        expr.remove_attr("out_refs");
    } else {
        expr.set_value(
            "out_refs",
            AttributeValue::L(encoded.iter().cloned().map(AttributeValue::S).collect()),
        );
    }
}

pub fn decode_refs(item: &ItemRecord) -> Vec<OutRef> {
    let mut refs: Vec<OutRef> = item
        .out_refs
        .iter()
        .filter_map(|s| OutRef::decode(s))
        .collect();
    refs.sort();
    refs
}

/// The referrers recorded on an item, one per (referrer, field).
pub fn referrers(map: &BTreeMap<String, Vec<String>>) -> Vec<Referrer> {
    let mut out = Vec::new();
    for (key, fields) in map {
        let (collection, id) = key.split_once('#').unwrap_or((key.as_str(), ""));
        for field in fields {
            out.push(Referrer {
                collection: collection.to_owned(),
                id: id.to_owned(),
                field: field.clone(),
            });
        }
    }
    out.sort();
    out
}

/// Field errors for references whose targets are missing or deleted.
/// Field errors for the references in `refs` whose targets are missing or
/// deleted; empty when none of `refs` points at one.
pub fn missing_target_errors(
    missing: &[(CollectionKey, ItemId)],
    refs: &[OutRef],
    prefix: &str,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for r in refs.iter().filter(|r| {
        missing
            .iter()
            .any(|(c, id)| *c == r.collection && *id == r.id)
    }) {
        errors.insert(
            format!("{prefix}{}", r.field),
            vec!["This value does not exist.".into()],
        );
    }
    errors
}

/// The validation error for a write whose referenced items are gone.
pub fn missing_targets(
    missing: &[(CollectionKey, ItemId)],
    refs: &[OutRef],
    prefix: &str,
) -> Error {
    let mut errors = missing_target_errors(missing, refs, prefix);
    if errors.is_empty() {
        errors.insert(
            format!("{prefix}fields"),
            vec!["This value does not exist.".into()],
        );
    }
    Error::Invalid(errors)
}

pub fn too_large(prefix: &str) -> Error {
    let what = if prefix.is_empty() {
        "The item".to_owned()
    } else {
        format!("Item {}", prefix.trim_end_matches('.'))
    };
    Error::TooLarge(format!(
        "{what} is larger than the 400 KB a stored item may be."
    ))
}

pub fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
