//! Committing a write: one request per attempt (a single conditional
//! Put/Update, or one `TransactWriteItems`), the one mapping from a failed
//! condition to a `WriteFailure`, the transaction bounds, request tokens
//! that make SDK retries safe, and jittered backoff for lost races.
//!
//! A write is recognised as already done when a failed condition hands back
//! an item carrying this request's `write_token`: a retry after a lost
//! response then answers what the first try did, not 404 or 500.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use sha2::{Digest, Sha256};

use super::expr::Expr;
use super::keys::{self, Key};
use super::size::{item_size, value_size};
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::ItemRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId};

/// DynamoDB's bounds for one `TransactWriteItems`.
pub const MAX_ACTIONS: usize = 100;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// Attempts of one write before it answers 409: lost races re-plan at
/// once, transaction conflicts back off (full jitter, 20 ms doubling to
/// 640 ms; about 2.5 s in the worst case, well inside a 10 s function).
const MAX_ATTEMPTS: u32 = 10;
const BACKOFF_BASE_MS: u64 = 20;
const BACKOFF_CAP_MS: u64 = 640;

/// An item another item points at.
pub type Target = (CollectionKey, ItemId);

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
    /// An indexed field's entry (`store::entries`): conditioned on the
    /// entry the write believes is stored, so that its value counts move
    /// exactly with it (`Store::commit` learns the stored one on a miss).
    Entry,
    /// A deleted item whose references are being cleaned up: must still
    /// be deleted (or gone), so that a concurrent restore wins.
    StillDeleted,
    Idempotency,
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
fn wire(ops: &[Op]) -> Vec<Op> {
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
            out.push(super::pages::value_count_op(partition, value, n, shard));
        }
    }
    out
}

/// Entries whose stored state differed from the write's belief, by op
/// index: the entry as it is (None: absent).
type EntryMisses = Vec<(usize, Option<EntryKeys>)>;

/// Times one commit learns stored entries and sends again.
const ENTRY_ROUNDS: usize = 4;

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

/// A stored idempotency record, as the failed create found it.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub response: String,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// An item's own condition failed; the item as it is now (None: absent).
    Item(Option<Box<ItemRecord>>),
    /// Targets to link that are missing or deleted.
    MissingTargets(Vec<Target>),
    /// Targets to release that no longer exist.
    GoneTargets(Vec<Target>),
    Idempotent(IdempotencyRecord),
    /// Another transaction held one of the items (the idempotency
    /// record: another request with the same key is running).
    Conflict {
        idempotency: bool,
    },
    /// The item being cleaned up after was restored meanwhile.
    Restored,
    /// More actions than one transaction holds.
    TooMany,
    TooLarge,
    Fault(Error),
}

impl From<Error> for WriteFailure {
    fn from(e: Error) -> Self {
        WriteFailure::Fault(e)
    }
}

/// Why one send of a write did not land.
enum Sent {
    /// Only entries' conditions failed: the entries as stored.
    Entries(EntryMisses),
    Failure(WriteFailure),
}

impl From<WriteFailure> for Sent {
    fn from(f: WriteFailure) -> Self {
        Sent::Failure(f)
    }
}

impl From<Error> for Sent {
    fn from(e: Error) -> Self {
        Sent::Failure(WriteFailure::Fault(e))
    }
}

/// What a commit did.
#[derive(Debug)]
pub(crate) enum Committed {
    /// Written now; for a single Update, the item as it was before.
    Done(Option<Box<ItemRecord>>),
    /// This request's write had already landed (a retry after a lost
    /// response); the item as it is now.
    AlreadyDone(Box<ItemRecord>),
}

/// The attempts of one write: request tokens and backoff.
#[derive(Debug)]
pub(crate) struct Attempts {
    request_id: String,
    n: u32,
}

impl Attempts {
    pub fn new(request_id: &str) -> Self {
        Attempts {
            request_id: request_id.to_owned(),
            n: 0,
        }
    }

    /// Starts the next attempt; false when the budget is spent.
    pub fn next(&mut self) -> bool {
        self.n += 1;
        self.n <= MAX_ATTEMPTS
    }

    /// Waits before retrying a transaction conflict: full jitter.
    pub async fn backoff(&self) {
        let cap = BACKOFF_CAP_MS.min(BACKOFF_BASE_MS << self.n.min(10));
        let mut bytes = [0u8; 8];
        let r = getrandom::fill(&mut bytes).map_or(cap / 2, |_| u64::from_le_bytes(bytes));
        tokio::time::sleep(Duration::from_millis(r % (cap + 1))).await;
    }

    /// `ClientRequestToken` of this attempt: an SDK retry of the same
    /// attempt is the same token, a re-planned attempt a new one.
    pub fn client_token(&self) -> String {
        token(&format!("{}#{}", self.request_id, self.n))
    }

    /// The token of this attempt's `round`th send (a send again after
    /// learning stored entries is another request).
    fn round_token(&self, round: usize) -> String {
        match round {
            0 => self.client_token(),
            r => token(&format!("{}#{}#{r}", self.request_id, self.n)),
        }
    }

    /// Marks every item this request writes, whatever the attempt.
    pub fn write_token(&self) -> String {
        token(&self.request_id)
    }

    pub fn conflict() -> Error {
        Error::Conflict("The item is being changed by other requests; try again.".into())
    }
}

fn token(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..32].to_owned()
}

pub(crate) fn parse_record(item: HashMap<String, AttributeValue>) -> Result<ItemRecord, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)
}

fn is_too_large(code: Option<&str>, message: Option<&str>) -> bool {
    // DynamoDB reports an oversized item only as a ValidationException (or a
    // ValidationError cancellation reason) whose message names the size.
    matches!(code, Some("ValidationException" | "ValidationError"))
        && message.is_some_and(|m| m.contains("size"))
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

/// The parts every conditioned action shares, on any of the SDK's
/// builders (a transaction's Put/Update/Delete/ConditionCheck, or a single
/// PutItem/DeleteItem): the table, the expression's condition and its
/// placeholders (moved in), and the item handed back when it fails.
macro_rules! conditioned {
    ($builder:expr, $table:expr, $expr:expr) => {{
        let e = $expr.into_parts();
        $builder
            .table_name($table)
            .set_condition_expression(e.condition)
            .set_expression_attribute_names(e.names)
            .set_expression_attribute_values(e.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }};
}

impl Store {
    /// Runs the ops as one request: a single Put/Update when there is one
    /// op, else one transaction with this attempt's `ClientRequestToken`.
    ///
    /// Index entries are sent conditioned on the state the write believes
    /// stored (`wire`). When only such conditions fail, the entries as
    /// stored (handed back by the failed conditions) become the belief and
    /// the write is sent again: an entry left by an earlier indexing or
    /// already written by a racing build is then replaced, and its value
    /// counts stay exact.
    pub(crate) async fn commit(
        &self,
        mut ops: Vec<Op>,
        attempts: &Attempts,
    ) -> Result<Committed, WriteFailure> {
        if !ops.iter().any(|o| matches!(o.action, Action::Entry { .. })) {
            // No entry to learn and send again: the ops go once, as built.
            return match self.send(ops, attempts, 0).await {
                Ok(done) => Ok(done),
                Err(Sent::Failure(f)) => Err(f),
                Err(Sent::Entries(_)) => Err(WriteFailure::Fault(Error::internal(
                    "an entry's condition failed in a write without entries",
                ))),
            };
        }
        for round in 0..ENTRY_ROUNDS {
            let misses = match self.send(wire(&ops), attempts, round).await {
                Err(Sent::Entries(misses)) => misses,
                Err(Sent::Failure(f)) => return Err(f),
                Ok(done) => return Ok(done),
            };
            self.relearned
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for (at, stored) in misses {
                if let Some(Op {
                    action: Action::Entry { from, .. },
                    ..
                }) = ops.get_mut(at)
                {
                    *from = stored;
                }
            }
        }
        Err(WriteFailure::Conflict { idempotency: false })
    }

    /// How many times writes were sent again after learning stored
    /// entries (tests show that races with a build took that path).
    pub fn entries_relearned(&self) -> u64 {
        self.relearned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One send of a write's actions.
    async fn send(
        &self,
        ops: Vec<Op>,
        attempts: &Attempts,
        round: usize,
    ) -> Result<Committed, Sent> {
        // Nothing left to write (a build's entries found as wanted):
        // checks alone guard nothing.
        if ops.iter().all(|o| matches!(o.action, Action::Check { .. })) {
            return Ok(Committed::Done(None));
        }
        check_bounds(&ops)?;
        let write_token = attempts.write_token();
        let roles: Vec<Role> = ops.iter().map(|o| o.role.clone()).collect();
        let result = if ops.len() == 1 {
            let Some(op) = ops.into_iter().next() else {
                return Ok(Committed::Done(None));
            };
            self.commit_one(op).await
        } else {
            self.commit_many(ops, attempts.round_token(round)).await
        };
        let failures = match result {
            Ok(old) => {
                let old = old
                    .filter(|i| !i.is_empty())
                    .map(parse_record)
                    .transpose()?;
                return Ok(Committed::Done(old.map(Box::new)));
            }
            Err(Failed::Conditions(f)) => f,
            Err(Failed::Conflicts(flags)) => {
                let idempotency = roles
                    .iter()
                    .zip(flags)
                    .any(|(r, f)| f && matches!(r, Role::Idempotency));
                return Err(WriteFailure::Conflict { idempotency }.into());
            }
            Err(Failed::Other(f)) => return Err(f.into()),
        };
        // The reasons, in op order: (role, the item as it is, if returned).
        let mut missing = Vec::new();
        let mut gone = Vec::new();
        let mut item_failure = None;
        let mut restored = false;
        let mut entries = Vec::new();
        for (at, (role, current)) in roles.iter().zip(failures).enumerate() {
            let Some(current) = current else { continue };
            match role {
                Role::Item => {
                    let now = current
                        .filter(|i| !i.is_empty())
                        .map(parse_record)
                        .transpose()?;
                    if let Some(now) = now.as_ref() {
                        if now.write_token.as_deref() == Some(write_token.as_str()) {
                            return Ok(Committed::AlreadyDone(Box::new(now.clone())));
                        }
                    }
                    item_failure = Some(now.map(Box::new));
                }
                Role::Idempotency => {
                    let current = current.unwrap_or_default();
                    let s = |k: &str| {
                        current
                            .get(k)
                            .and_then(|v| v.as_s().ok())
                            .cloned()
                            .unwrap_or_default()
                    };
                    return Err(WriteFailure::Idempotent(IdempotencyRecord {
                        request_hash: s("request_hash"),
                        response: s("response"),
                    })
                    .into());
                }
                Role::Link(t) => missing.push(t.clone()),
                Role::Release(t) => gone.push(t.clone()),
                Role::Entry => entries.push((at, current.as_ref().and_then(EntryKeys::of))),
                Role::Edge | Role::Count => {}
                Role::StillDeleted => restored = true,
            }
        }
        if restored {
            return Err(WriteFailure::Restored.into());
        }
        if let Some(old) = item_failure {
            return Err(WriteFailure::Item(old).into());
        }
        if !missing.is_empty() {
            return Err(WriteFailure::MissingTargets(missing).into());
        }
        if !gone.is_empty() {
            return Err(WriteFailure::GoneTargets(gone).into());
        }
        if !entries.is_empty() {
            return Err(Sent::Entries(entries));
        }
        Err(WriteFailure::Fault(Error::internal(
            "a condition failed that no action explains",
        ))
        .into())
    }

    /// One conditional write outside a transaction (a bulk load's count
    /// updates): a failed condition or a conflict is an error.
    pub(super) async fn write_one(&self, op: Op) -> Result<(), Error> {
        match self.commit_one(op).await {
            Ok(_) => Ok(()),
            Err(Failed::Other(WriteFailure::Fault(e))) => Err(e),
            Err(Failed::Conditions(_)) => Err(Error::internal("a single write's condition failed")),
            Err(_) => Err(Error::internal("a single write failed")),
        }
    }

    async fn commit_one(&self, op: Op) -> Result<Option<HashMap<String, AttributeValue>>, Failed> {
        fn failed<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R>(
            e: SdkError<E, R>,
        ) -> Failed
        where
            R: std::fmt::Debug + Send + Sync + 'static,
        {
            // A conflict, or DynamoDB's own 500 (retryable; DynamoDB Local
            // answers one after waiting too long for an item's lock): try
            // again with backoff. A write that did land is recognised by its
            // `write_token` on the next attempt.
            if matches!(
                e.code(),
                Some("TransactionConflictException" | "InternalServerError")
            ) {
                return Failed::Other(WriteFailure::Conflict { idempotency: false });
            }
            if is_too_large(e.code(), e.message()) {
                return Failed::Other(WriteFailure::TooLarge);
            }
            Failed::Other(WriteFailure::Fault(from_sdk(e)))
        }
        // A failed condition hands back the item as it is.
        macro_rules! on_condition {
            ($op:ident :: $error:ident) => {
                |e| match e {
                    SdkError::ServiceError(s) if s.err().is_conditional_check_failed_exception() => {
                        let item = match s.into_err() {
                            aws_sdk_dynamodb::operation::$op::$error::ConditionalCheckFailedException(c) => c.item,
                            _ => None,
                        };
                        Failed::Conditions(vec![Some(item)])
                    }
                    e => failed(e),
                }
            };
        }
        let all_old = ReturnValuesOnConditionCheckFailure::AllOld;
        match op.action {
            Action::Put { item, expr } => {
                conditioned!(self.ddb.put_item().set_item(Some(item)), &self.table, expr)
                    .send()
                    .await
                    .map(|_| None)
                    .map_err(on_condition!(put_item::PutItemError))
            }
            Action::Update { key, expr } => self
                .update_with(key, &expr)
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(all_old)
                .send()
                .await
                .map(|out| out.attributes)
                .map_err(on_condition!(update_item::UpdateItemError)),
            Action::Delete { key, expr } => {
                conditioned!(self.ddb.delete_item().set_key(Some(key)), &self.table, expr)
                    .send()
                    .await
                    .map(|_| None)
                    .map_err(on_condition!(delete_item::DeleteItemError))
            }
            Action::Check { .. } | Action::Entry { .. } => Err(Failed::Other(WriteFailure::Fault(
                Error::internal("a condition check or an unsent entry alone is not a write"),
            ))),
        }
    }

    async fn commit_many(
        &self,
        ops: Vec<Op>,
        token: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, Failed> {
        let items = ops
            .into_iter()
            .map(|op| self.transact_item(op.action))
            .collect::<Result<Vec<_>, Error>>()
            .map_err(|e| Failed::Other(WriteFailure::Fault(e)))?;
        let err = match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        if let Some(service) = err.as_service_error() {
            match service {
                TransactWriteItemsError::TransactionInProgressException(_)
                | TransactWriteItemsError::IdempotentParameterMismatchException(_)
                | TransactWriteItemsError::InternalServerError(_) => {
                    // Another attempt of this request holds the token, or
                    // DynamoDB answered 500 (retryable): the next attempt
                    // gets a token of its own, and finds its write by its
                    // `write_token` if this one landed.
                    return Err(Failed::Other(WriteFailure::Conflict { idempotency: false }));
                }
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let reasons = c.cancellation_reasons();
                    if let Some(f) = cancellation(reasons) {
                        return Err(f);
                    }
                }
                _ => {}
            }
        }
        if is_too_large(err.code(), err.message()) {
            return Err(Failed::Other(WriteFailure::TooLarge));
        }
        Err(Failed::Other(WriteFailure::Fault(from_sdk(err))))
    }

    fn transact_item(&self, action: Action) -> Result<TransactWriteItem, Error> {
        let table = &self.table;
        let item = match action {
            Action::Put { item, expr } => TransactWriteItem::builder().put(
                conditioned!(Put::builder().set_item(Some(item)), table, expr)
                    .build()
                    .map_err(Error::internal)?,
            ),
            Action::Update { key, expr } => {
                let update = Update::builder()
                    .set_key(Some(key))
                    .update_expression(expr.update_expression());
                TransactWriteItem::builder().update(
                    conditioned!(update, table, expr)
                        .build()
                        .map_err(Error::internal)?,
                )
            }
            Action::Delete { key, expr } => TransactWriteItem::builder().delete(
                conditioned!(Delete::builder().set_key(Some(key)), table, expr)
                    .build()
                    .map_err(Error::internal)?,
            ),
            Action::Check { key, expr } => TransactWriteItem::builder().condition_check(
                conditioned!(ConditionCheck::builder().set_key(Some(key)), table, expr)
                    .build()
                    .map_err(Error::internal)?,
            ),
            Action::Entry { .. } => {
                return Err(Error::internal("an entry is sent as its put or delete"))
            }
        };
        Ok(item.build())
    }
}

/// How a request failed before the reasons are read.
pub(super) enum Failed {
    /// Conditions failed; per op: `Some(item as it is)` where its own
    /// condition failed (the item `None` when absent), `None` elsewhere.
    Conditions(Vec<Option<Option<HashMap<String, AttributeValue>>>>),
    /// Per op: whether another transaction held it.
    Conflicts(Vec<bool>),
    Other(WriteFailure),
}

/// Reads a cancelled transaction's reasons. A failed condition wins over a
/// conflict: re-planning from what it returned is better than waiting.
pub(super) fn cancellation(reasons: &[CancellationReason]) -> Option<Failed> {
    let mut conditions = Vec::with_capacity(reasons.len());
    let mut conflicts = Vec::with_capacity(reasons.len());
    let mut throttled = false;
    for reason in reasons {
        let code = reason.code();
        if is_too_large(code, reason.message()) {
            return Some(Failed::Other(WriteFailure::TooLarge));
        }
        conditions.push((code == Some("ConditionalCheckFailed")).then(|| reason.item().cloned()));
        conflicts.push(code == Some("TransactionConflict"));
        throttled |= matches!(
            code,
            Some("ThrottlingError" | "ProvisionedThroughputExceeded")
        );
    }
    if conditions.iter().any(Option::is_some) {
        Some(Failed::Conditions(conditions))
    } else if throttled {
        // A 429 with Retry-After: the client backs off, as DynamoDB asks.
        Some(Failed::Other(WriteFailure::Fault(Error::Throttled)))
    } else if conflicts.contains(&true) {
        Some(Failed::Conflicts(conflicts))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_cancelled_for_throttling_is_a_429() {
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        let throttled = cancellation(&[reason("None"), reason("ThrottlingError")]);
        assert!(matches!(
            throttled,
            Some(Failed::Other(WriteFailure::Fault(Error::Throttled)))
        ));
        let conflict = cancellation(&[reason("TransactionConflict"), reason("None")]);
        assert!(matches!(conflict, Some(Failed::Conflicts(_))));
        // A failed condition still says which item and why.
        let condition =
            cancellation(&[reason("ConditionalCheckFailed"), reason("ThrottlingError")]);
        assert!(matches!(condition, Some(Failed::Conditions(_))));
    }

    #[test]
    fn tokens_are_stable_per_attempt_and_fit_dynamodb() {
        let mut a = Attempts::new("req-1");
        assert!(a.next());
        let first = a.client_token();
        assert_eq!(first, a.client_token());
        assert!(a.next());
        assert_ne!(first, a.client_token());
        assert_eq!(a.write_token(), Attempts::new("req-1").write_token());
        assert!(first.len() <= 36);
        let mut n = 2;
        while a.next() {
            n += 1;
        }
        assert_eq!(n, MAX_ATTEMPTS);
    }

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
                key: super::super::keys::org(&folio_core::ids::OrgId::parse("a").unwrap()),
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
