//! Sending one attempt of a write, and reading why it failed: a failed
//! condition as the `WriteFailure` its op's role explains, a conflict or
//! DynamoDB's 500 as one to retry, an oversized item or transaction as
//! such. Index entries whose stored state differed from the write's belief
//! are learned here and the write sent again (`Store::commit`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::ops::{check_bounds, wire, Action, EntryKeys, Op, Role};
use super::{Attempts, Committed, IdempotencyRecord, WriteFailure};
use crate::sdk::from_sdk;
use crate::Store;
use folio_core::content::ItemRecord;
use folio_core::error::Error;

/// Entries whose stored state differed from the write's belief, by op
/// index: the entry as it is (None: absent).
type EntryMisses = Vec<(usize, Option<EntryKeys>)>;

/// Times one commit learns stored entries and sends again.
const ENTRY_ROUNDS: usize = 4;

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

pub(crate) fn parse_record(item: HashMap<String, AttributeValue>) -> Result<ItemRecord, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)
}

fn is_too_large(code: Option<&str>, message: Option<&str>) -> bool {
    // DynamoDB reports an oversized item only as a ValidationException (or a
    // ValidationError cancellation reason) whose message names the size.
    matches!(code, Some("ValidationException" | "ValidationError"))
        && message.is_some_and(|m| m.contains("size"))
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
        let mut schedule = false;
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
                Role::Edge | Role::Count | Role::Listing | Role::Version => {}
                Role::StillDeleted => restored = true,
                Role::Schedule => schedule = true,
            }
        }
        if restored {
            return Err(WriteFailure::Restored.into());
        }
        if let Some(old) = item_failure {
            return Err(WriteFailure::Item(old).into());
        }
        if schedule {
            return Err(WriteFailure::Schedule.into());
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
    pub(crate) async fn write_one(&self, op: Op) -> Result<(), Error> {
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
pub(crate) enum Failed {
    /// Conditions failed; per op: `Some(item as it is)` where its own
    /// condition failed (the item `None` when absent), `None` elsewhere.
    Conditions(Vec<Option<Option<HashMap<String, AttributeValue>>>>),
    /// Per op: whether another transaction held it.
    Conflicts(Vec<bool>),
    Other(WriteFailure),
}

/// Reads a cancelled transaction's reasons. A failed condition wins over a
/// conflict: re-planning from what it returned is better than waiting.
pub(crate) fn cancellation(reasons: &[CancellationReason]) -> Option<Failed> {
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
}
