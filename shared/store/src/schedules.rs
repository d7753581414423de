//! Schedules (`folio_core::schedule`): a record in the item's partition
//! (`keys::schedule`, sk `SCHED#<id>`), listed in time order by the
//! keys-only indexes: `by_created` for every state of an organization,
//! `by_field` for one state (`keys` explains the keys). The record is the
//! truth; the item holds the ids of its pending ones (`pending_publish`,
//! `pending_unpublish`).
//!
//! - creating one is one transaction: the record, and the item's id of
//!   that action, on condition that the item is live and holds none;
//! - cancelling one is one transaction: the record ends, on condition it
//!   is pending, and the item lets go of its id;
//! - a write that cancels (a delete, an explicit publish or unpublish)
//!   removes the id in the item's own update; the worker then ends the
//!   record (`end_schedule`), and until it has, reads show the schedule
//!   as cancelled (`effective`);
//! - a fire is a write of the item conditioned on it still holding the
//!   id, in one transaction with the record's end (`done_op`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::commit::{Action, Attempts, Op, Retry, Role, WriteFailure};
use super::expr::Expr;
use super::keys;
use super::record::when_live;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::ItemRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId, OrgId};
use folio_core::schedule::{ended_expiry, Schedule, ScheduleState};

/// A page of an organization's schedules, in time order.
#[derive(Debug, Clone)]
pub struct SchedulePage {
    pub schedules: Vec<Schedule>,
    /// Where the next page starts (`<at>#<id>` of the last one), when more follow.
    pub next: Option<String>,
}

fn sort_key(s: &Schedule) -> String {
    format!("{}#{}", s.at, s.id)
}

fn parse(item: HashMap<String, AttributeValue>) -> Result<Schedule, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)
}

fn key(s: &Schedule) -> keys::Key {
    keys::schedule(&s.org, &s.collection, &s.item_id, &s.id)
}

/// The schedule as reads show it: a pending one whose item no longer
/// holds it was cancelled by a write (the worker ends its record soon).
pub fn effective(mut s: Schedule, item: Option<&ItemRecord>) -> Schedule {
    let held = item.is_some_and(|i| i.pending(s.action) == Some(s.id.as_str()));
    if s.state == ScheduleState::Pending && !held {
        s.state = ScheduleState::Cancelled;
    }
    s
}

/// The update that ends a schedule of `org` in `state` at `now` (why:
/// `reason`), on condition that it is still pending.
fn end_expr(org: &OrgId, state: ScheduleState, reason: Option<&str>, now: &str) -> Expr {
    let mut expr = Expr::new();
    expr.set_value("state", AttributeValue::S(state.as_str().to_owned()));
    expr.set_value("ended_at", AttributeValue::S(now.to_owned()));
    if let Some(reason) = reason {
        expr.set_value("reason", AttributeValue::S(reason.to_owned()));
    }
    expr.set_value(
        keys::IX_PK,
        AttributeValue::S(keys::schedules_in_state(org, state.as_str())),
    );
    let at = time::OffsetDateTime::parse(now, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    expr.set_value(
        "expires_at",
        AttributeValue::N(ended_expiry(at).to_string()),
    );
    expr.when_equals(
        "state",
        AttributeValue::S(ScheduleState::Pending.as_str().to_owned()),
    );
    expr
}

/// The end of `s` as one action of a write: done (a fire) or failed.
pub(crate) fn end_op(s: &Schedule, state: ScheduleState, reason: Option<&str>, now: &str) -> Op {
    end_op_of(
        (&s.org, &s.collection, &s.item_id, &s.id),
        state,
        reason,
        now,
    )
}

/// The same, of the schedule `id` of an item (a write that cancels it
/// knows only its id).
pub(crate) fn end_op_of(
    (org, collection, item, id): (&OrgId, &CollectionKey, &ItemId, &str),
    state: ScheduleState,
    reason: Option<&str>,
    now: &str,
) -> Op {
    Op {
        role: Role::Schedule,
        action: Action::Update {
            key: keys::schedule(org, collection, item, id),
            expr: end_expr(org, state, reason, now),
        },
    }
}

/// The item's update that lets go of `s`'s id, on condition it holds it.
fn release_op(s: &Schedule) -> Op {
    let mut expr = Expr::new();
    let attr = s.action.item_attribute();
    expr.remove_attr(attr);
    expr.when_equals(attr, AttributeValue::S(s.id.clone()));
    Op {
        role: Role::Item,
        action: Action::Update {
            key: keys::item(&s.org, &s.collection, &s.item_id),
            expr,
        },
    }
}

impl Store {
    /// Stores a new pending schedule and gives its id to the item, in one
    /// transaction: 404 when the item is not live, 409 naming the pending
    /// schedule of the same action the item holds already.
    pub async fn create_schedule(&self, s: &Schedule) -> Result<(), Error> {
        let mut record = serde_dynamo::aws_sdk_dynamodb_1::to_item(s).map_err(Error::internal)?;
        record.extend(key(s));
        let sort = AttributeValue::S(sort_key(s));
        record.insert(
            keys::VIS_PK.into(),
            AttributeValue::S(keys::schedules_partition(&s.org)),
        );
        record.insert(keys::CR_SK.into(), sort.clone());
        record.insert(
            keys::IX_PK.into(),
            AttributeValue::S(keys::schedules_in_state(&s.org, s.state.as_str())),
        );
        record.insert(keys::IX_SK.into(), sort);
        let mut put = Expr::new();
        put.when_absent(keys::PK);
        let attr = s.action.item_attribute();
        let mut item = Expr::new();
        item.set_value(attr, AttributeValue::S(s.id.clone()));
        when_live(&mut item);
        item.when_absent(attr);
        let ops = || {
            vec![
                Op {
                    role: Role::Item,
                    action: Action::Update {
                        key: keys::item(&s.org, &s.collection, &s.item_id),
                        expr: item.clone(),
                    },
                },
                Op {
                    role: Role::Schedule,
                    action: Action::Put {
                        item: record.clone(),
                        expr: put.clone(),
                    },
                },
            ]
        };
        let mut retry = Retry::new(Attempts::new(&format!("schedule#{}", s.id)))
            .unexpected("a new schedule's id was taken");
        loop {
            let attempts = retry.next()?;
            match self.commit(ops(), attempts).await {
                Ok(_) => return Ok(()),
                Err(WriteFailure::Item(Some(now))) if now.is_live(super::now_epoch()) => {
                    return Err(match now.pending(s.action) {
                        Some(first) => Error::Conflict(format!(
                            "This item has a pending {} schedule already: {first}. Cancel it first.",
                            s.action.as_str()
                        )),
                        None => Error::internal("the item's schedule condition failed"),
                    })
                }
                Err(WriteFailure::Item(_)) => return Err(Error::NotFound),
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// One schedule of an item (strongly consistent).
    pub async fn schedule(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        item: &ItemId,
        id: &str,
    ) -> Result<Option<Schedule>, Error> {
        self.get_strong(keys::schedule(org, collection, item, id))
            .await?
            .map(parse)
            .transpose()
    }

    /// Every schedule of an item kept (pending, and ended ones for 30
    /// days), newest first. One Query.
    pub async fn item_schedules(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        item: &ItemId,
    ) -> Result<Vec<Schedule>, Error> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :sched)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::item_pk(org, collection, item)),
                )
                .expression_attribute_values(
                    ":sched",
                    AttributeValue::S(keys::SCHEDULE_PREFIX.to_owned()),
                )
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(from_sdk)?;
            for item in page.items.unwrap_or_default() {
                out.push(parse(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Cancels a pending schedule (`DELETE …/schedules/{id}/`): the record
    /// ends and the item (`item`, as read) lets go of its id, in one
    /// transaction. 409 once it has ended.
    pub async fn cancel_schedule(
        &self,
        s: &Schedule,
        item: &ItemRecord,
        now: &str,
    ) -> Result<(), Error> {
        let mut retry = Retry::new(Attempts::new(&format!("cancel#{}", s.id)))
            .unexpected("a cancel failed as no cancel can");
        let mut holds = item.pending(s.action) == Some(s.id.as_str());
        loop {
            let attempts = retry.next()?;
            let mut ops = vec![end_op(s, ScheduleState::Cancelled, None, now)];
            if holds {
                ops.push(release_op(s));
            }
            match self.commit(ops, attempts).await {
                Ok(_) => return Ok(()),
                Err(WriteFailure::Schedule) => {
                    let state = self
                        .schedule(&s.org, &s.collection, &s.item_id, &s.id)
                        .await?
                        .map_or("gone", |now| now.state.as_str());
                    return Err(Error::Conflict(format!(
                        "This schedule has ended ({state}); only a pending one can be cancelled."
                    )));
                }
                // A write cancelled it meanwhile: end the record alone.
                Err(WriteFailure::Item(_)) => holds = false,
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Ends a pending schedule that its item no longer holds (a write
    /// cancelled it, or the item is gone): false when it had ended already.
    pub async fn end_schedule(
        &self,
        s: &Schedule,
        state: ScheduleState,
        reason: Option<&str>,
        now: &str,
    ) -> Result<bool, Error> {
        let mut retry = Retry::new(Attempts::new(&format!("end#{}", s.id)));
        loop {
            let attempts = retry.next()?;
            match self
                .commit(vec![end_op(s, state, reason, now)], attempts)
                .await
            {
                Ok(_) => return Ok(true),
                Err(WriteFailure::Schedule) => return Ok(false),
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Marks a pending schedule failed (`reason`), the item letting go of
    /// its id when it holds it, in one transaction; nothing else is
    /// written. False when it had ended already.
    pub async fn fail_schedule(
        &self,
        s: &Schedule,
        reason: &str,
        now: &str,
    ) -> Result<bool, Error> {
        let mut retry = Retry::new(Attempts::new(&format!("fail#{}", s.id)));
        let mut holds = true;
        loop {
            let attempts = retry.next()?;
            let mut ops = vec![end_op(s, ScheduleState::Failed, Some(reason), now)];
            if holds {
                ops.push(release_op(s));
            }
            match self.commit(ops, attempts).await {
                Ok(_) => return Ok(true),
                Err(WriteFailure::Schedule) => return Ok(false),
                Err(WriteFailure::Item(_)) => holds = false,
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Up to `take` of an organization's schedules after `after` (a
    /// page's `next`), in time order: all, or those in `state` (as
    /// stored: see `effective`). One Query of a keys-only index and one
    /// BatchGetItem.
    pub async fn org_schedules(
        &self,
        org: &OrgId,
        state: Option<ScheduleState>,
        after: Option<&str>,
        take: usize,
    ) -> Result<SchedulePage, Error> {
        let (index, pk_attr, sk_attr, pk) = match state {
            Some(state) => (
                keys::FIELD_INDEX,
                keys::IX_PK,
                keys::IX_SK,
                keys::schedules_in_state(org, state.as_str()),
            ),
            None => (
                keys::CREATED_INDEX,
                keys::VIS_PK,
                keys::CR_SK,
                keys::schedules_partition(org),
            ),
        };
        let mut query = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .limit(i32::try_from(take + 1).unwrap_or(i32::MAX));
        query = match after {
            Some(after) => query
                .key_condition_expression("#pk = :pk AND #sk > :after")
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":after", AttributeValue::S(after.to_owned())),
            None => query.key_condition_expression("#pk = :pk"),
        };
        let out = query.send().await.map_err(from_sdk)?;
        let mut entries: Vec<(String, keys::Key)> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                let sort = i
                    .get(sk_attr)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let key = i
                    .into_iter()
                    .filter(|(k, _)| k == keys::PK || k == keys::SK)
                    .collect();
                (sort, key)
            })
            .collect();
        let more = entries.len() > take;
        entries.truncate(take);
        let next = entries
            .last()
            .filter(|_| more)
            .map(|(sort, _)| sort.clone());
        let found = entries.into_iter().map(|(_, key)| key).collect();
        let mut schedules = self
            .get_raw(found, false)
            .await?
            .into_iter()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        // In the index's order; one that left `state` since its entry was
        // read is left out.
        schedules.sort_by_key(sort_key);
        if let Some(state) = state {
            schedules.retain(|s| s.state == state);
        }
        Ok(SchedulePage { schedules, next })
    }
}
