//! Media ingest's writes (docs/design.md §10): rewriting `media` fields to
//! their library URLs, and recording why a field could not be ingested.
//!
//! A rewrite is one transaction: an update that sets each ingested field
//! and bumps the version (an ordinary change: the stream makes its event),
//! conditioned on the item being live and on each field still holding the
//! URL that was downloaded, and the version it keeps (`store::versions`): an edit that landed during the download wins,
//! and its value is kept. Every write is conditioned on the version read
//! (a lost race re-reads and plans again). The live version of an item
//! with a draft is rewritten too where it holds the same URL. A failure is recorded in
//! `media_status` without a new version (bookkeeping, no event).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde_json::Value;

use super::commit::{Action, Attempts, Op, Role, WriteFailure};
use super::expr::Expr;
use super::keys;
use super::record::{touch, when_live};
use super::versions::version_op;
use super::Store;
use folio_core::content::{Action as Made, Author, ItemRecord, MediaStatus};
use folio_core::error::Error;

/// A field downloaded and stored: `(storage key, source URL, library URL)`.
pub type Ingested = (String, String, String);
/// A field that could not be: `(storage key, source URL, why)`.
pub type Failed = (String, String, String);

/// What `apply_media` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// These fields now hold their library URLs, at this version.
    Rewritten { fields: Vec<String>, version: u64 },
    /// Only failures were recorded (no new version).
    Recorded,
    /// The item changed meanwhile so that nothing applies any more.
    Stale,
}

impl Store {
    /// Applies one ingest run's results to `item` (as read before the
    /// downloads), as `by` (the worker, for the event it ingests for).
    pub async fn apply_media(
        &self,
        item: &ItemRecord,
        ingested: &[Ingested],
        failed: &[Failed],
        now: &str,
        by: &Author,
    ) -> Result<Applied, Error> {
        let mut current = item.clone();
        let mut attempts = Attempts::new(&format!("media#{}", by.request_id));
        for _ in 0..3 {
            attempts.next();
            let holds =
                |key: &str, src: &str| current.fields.get(key).and_then(Value::as_str) == Some(src);
            let done: Vec<&Ingested> = ingested.iter().filter(|(k, s, _)| holds(k, s)).collect();
            let fails: Vec<&Failed> = failed.iter().filter(|(k, s, _)| holds(k, s)).collect();
            // Statuses kept: those of fields still holding their source,
            // minus the fields rewritten now, plus this run's failures.
            let mut status: BTreeMap<String, MediaStatus> = current
                .media_status
                .iter()
                .filter(|(k, s)| holds(k, &s.source))
                .filter(|(k, _)| !done.iter().any(|(d, _, _)| d == *k))
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect();
            for (k, src, why) in &fails {
                status.insert(
                    k.clone(),
                    MediaStatus {
                        state: "failed".into(),
                        source: src.clone(),
                        error: why.clone(),
                        at: now.to_owned(),
                    },
                );
            }
            if done.is_empty() && status == current.media_status {
                return Ok(if fails.is_empty() {
                    Applied::Stale
                } else {
                    Applied::Recorded
                });
            }
            let mut expr = Expr::new();
            when_live(&mut expr);
            if status.is_empty() {
                expr.remove_attr("media_status");
            } else {
                expr.set_value(
                    "media_status",
                    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&status)
                        .map_err(Error::internal)?,
                );
            }
            // On the version read: a write landing meanwhile is read again
            // and the rewrite planned on it (so no newer status is lost).
            expr.when_equals("version", AttributeValue::N(current.version.to_string()));
            if !done.is_empty() {
                let fields = expr.name("fields");
                for (k, src, lib) in &done {
                    let key = expr.name(k);
                    let lib = expr.value(AttributeValue::S(lib.clone()));
                    let src = expr.value(AttributeValue::S(src.clone()));
                    expr.set(format!("{fields}.{key} = {lib}"));
                    expr.when(format!("{fields}.{key} = {src}"));
                }
                // The live version under a draft holding the same source
                // is rewritten with it (it keeps its version number).
                let live = current.live.as_ref();
                let live_holds = |k: &str, s: &str| {
                    live.and_then(|l| l.fields.get(k)).and_then(Value::as_str) == Some(s)
                };
                for (k, src, lib) in done.iter().filter(|(k, s, _)| live_holds(k, s)) {
                    let path = format!(
                        "{}.{}.{}",
                        expr.name("live"),
                        expr.name("fields"),
                        expr.name(k)
                    );
                    let lib = expr.value(AttributeValue::S(lib.clone()));
                    let src = expr.value(AttributeValue::S(src.clone()));
                    expr.set(format!("{path} = {lib}"));
                    expr.when(format!("{path} = {src}"));
                }
                touch(&mut expr, &current.id, now);
                expr.set_value("write_token", AttributeValue::S(attempts.write_token()));
                expr.bump_version();
            }
            if done.is_empty() {
                // Failures alone: bookkeeping, no version.
                let result = self
                    .update_with(
                        keys::item(&current.org, &current.collection, &current.id),
                        &expr,
                    )
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .send()
                    .await;
                return match result {
                    Ok(_) => Ok(Applied::Recorded),
                    // A newer version (its own event ingests it), or gone.
                    Err(e) => match e.into_service_error() {
                        UpdateItemError::ConditionalCheckFailedException(_) => Ok(Applied::Stale),
                        e => Err(Error::internal(e)),
                    },
                };
            }
            // A rewrite is a version of its own, kept in the same transaction.
            let mut after = current.clone();
            for (k, src, lib) in &done {
                after.fields.insert(k.clone(), Value::String(lib.clone()));
                if let Some(live) = after.live.as_mut() {
                    if live.fields.get(k).and_then(Value::as_str) == Some(src.as_str()) {
                        live.fields.insert(k.clone(), Value::String(lib.clone()));
                    }
                }
            }
            after.version = current.version + 1;
            after.updated_at = now.to_owned();
            let ops = vec![
                Op {
                    role: Role::Item,
                    action: Action::Update {
                        key: keys::item(&current.org, &current.collection, &current.id),
                        expr,
                    },
                },
                version_op(&after, Made::Media, by)?,
            ];
            match self.commit(ops, &attempts).await {
                Ok(_) => {
                    return Ok(Applied::Rewritten {
                        fields: done.iter().map(|(k, _, _)| k.clone()).collect(),
                        version: after.version,
                    })
                }
                // A write landed meanwhile: plan again on it.
                Err(WriteFailure::Item(Some(now_item))) if now_item.deleted_at.is_none() => {
                    current = *now_item;
                }
                Err(WriteFailure::Item(_)) => return Ok(Applied::Stale),
                Err(WriteFailure::Fault(e)) => return Err(e),
                Err(f) => return Err(Error::internal(format!("media rewrite: {f:?}"))),
            }
        }
        Ok(Applied::Stale)
    }
}
