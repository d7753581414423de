//! Job records: what makes a background job idempotent per
//! `(event_id, job)`. A worker claims a job with one conditional write
//! (absent, or not done and its lease run out), runs it, and marks it
//! done or hands it back. A redelivered message finds the job done (nothing
//! repeats) or claimed by a run still in progress (the message waits its
//! turn). Only the claimant finishes or hands back a claim (fenced by the
//! claim's `runs`), so a late run never reopens a finished job.
//! Records expire by TTL after `JOB_RECORD_DAYS`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::expr::Expr;
use super::keys;
use super::writes::now_epoch;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::error::Error;

/// How long a job record is kept: longer than any redelivery or replay
/// window of the queue (14 days' retention in the DLQ).
pub const JOB_RECORD_DAYS: i64 = 15;

const DONE: &str = "done";
const RUNNING: &str = "running";

/// The outcome of claiming a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This run owns the job; how many runs have claimed it, this one included.
    Claimed { runs: u64 },
    /// A run finished it already: nothing to do.
    Done,
    /// Another run holds the lease: try later.
    Busy,
}

/// A job record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub done: bool,
    /// Runs that claimed it (1 when it ran once).
    pub runs: u64,
    /// When a run finished it (RFC 3339, as stored).
    pub finished_at: Option<String>,
}

impl Store {
    /// Claims `job` of `event_id` for `lease`.
    pub async fn claim_job(
        &self,
        event_id: &str,
        job: &str,
        lease: Duration,
    ) -> Result<Claim, Error> {
        let now = now_epoch();
        let mut expr = Expr::new();
        expr.set_value("state", AttributeValue::S(RUNNING.into()));
        expr.set_value(
            "lease_until",
            AttributeValue::N((now + lease.as_secs() as i64).to_string()),
        );
        expr.set_value(
            "expires_at",
            AttributeValue::N((now + JOB_RECORD_DAYS * 86_400).to_string()),
        );
        expr.add_number("runs", 1);
        let pk = expr.name(keys::PK);
        let state = expr.name("state");
        let lease_until = expr.name("lease_until");
        let done = expr.value(AttributeValue::S(DONE.into()));
        let now_v = expr.value(AttributeValue::N(now.to_string()));
        expr.when(format!(
            "attribute_not_exists({pk}) OR ({state} <> {done} AND {lease_until} < {now_v})"
        ));
        let result = self
            .job_update(event_id, job, &expr)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Claim::Claimed {
                runs: out.attributes.as_ref().map_or(1, runs),
            }),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                    let done = c
                        .item
                        .as_ref()
                        .and_then(|i| i.get("state"))
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|s| s == DONE);
                    Ok(if done { Claim::Done } else { Claim::Busy })
                }
                e => Err(Error::internal(e)),
            },
        }
    }

    /// Gives a job back whoever holds it, or reopens a finished one. Not
    /// fenced, so no run uses it (a run hands back only its own claim,
    /// `release_claim`); tests use it to stage a run that died.
    pub async fn release_job(&self, event_id: &str, job: &str) -> Result<(), Error> {
        let expr = state_expr(RUNNING, Some(0));
        self.job_update(event_id, job, &expr)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    /// Marks a claimed job done, for the run that made the `runs`th claim
    /// only: false (nothing written) when another run has claimed the job
    /// since, its lease having run out, or finished it.
    pub async fn finish_claim(&self, event_id: &str, job: &str, runs: u64) -> Result<bool, Error> {
        self.fenced_state(event_id, job, DONE, None, runs).await
    }

    /// Gives a claimed job back after a failure, so that the next delivery
    /// runs it without waiting for the lease; for the run that made the
    /// `runs`th claim only. A run whose lease ran out never hands back
    /// another's claim, nor reopens a job another run (a manual webhook
    /// retry among them) has finished: false, nothing written.
    pub async fn release_claim(&self, event_id: &str, job: &str, runs: u64) -> Result<bool, Error> {
        self.fenced_state(event_id, job, RUNNING, Some(0), runs)
            .await
    }

    async fn fenced_state(
        &self,
        event_id: &str,
        job: &str,
        state: &str,
        lease_until: Option<i64>,
        runs: u64,
    ) -> Result<bool, Error> {
        let mut expr = state_expr(state, lease_until);
        expr.when_equals("runs", AttributeValue::N(runs.to_string()));
        expr.when_equals("state", AttributeValue::S(RUNNING.into()));
        let out = self.job_update(event_id, job, &expr).send().await;
        super::applied(out, |e| e.is_conditional_check_failed_exception())
    }

    /// An UpdateItem of a job record with `expr`'s changes and condition.
    fn job_update(
        &self,
        event_id: &str,
        job: &str,
        expr: &Expr,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.update_with(keys::job(event_id, job), expr)
    }

    /// The record of `job` of `event_id`, if any run claimed it.
    pub async fn job(&self, event_id: &str, job: &str) -> Result<Option<JobRecord>, Error> {
        let item = self.get_strong(keys::job(event_id, job)).await?;
        Ok(item.map(|i| JobRecord {
            done: i
                .get("state")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(DONE),
            runs: runs(&i),
            finished_at: i.get("finished_at").and_then(|v| v.as_s().ok()).cloned(),
        }))
    }
}

/// Sets a job record's state (and lease), on condition that it exists.
fn state_expr(state: &str, lease_until: Option<i64>) -> Expr {
    let mut expr = Expr::new();
    expr.set_value("state", AttributeValue::S(state.into()));
    if state == DONE {
        expr.set_value("finished_at", AttributeValue::S(folio_core::clock::now()));
    }
    if let Some(t) = lease_until {
        expr.set_value("lease_until", AttributeValue::N(t.to_string()));
    }
    expr.when_exists(keys::PK);
    expr
}

fn runs(item: &std::collections::HashMap<String, AttributeValue>) -> u64 {
    item.get("runs")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
