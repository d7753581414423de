//! Schedules' steps on the events queue (`schedule`, `store::schedules`):
//!
//! - `arm`, when a schedule record is created (the relay): creates its
//!   one-time EventBridge Scheduler schedule, named by the schedule's id
//!   in `FOLIO_SCHEDULE_GROUP`, whose target sends the `fire` step back to
//!   this queue; one whose time has passed fires at once (the step goes
//!   straight to the queue). A failure is retried by the queue, never lost;
//!   a schedule that exists already (a retry) is left as it is.
//! - `disarm`, when one is cancelled: deletes it (one already gone is fine).
//! - `fire`, from EventBridge Scheduler: runs the schedule once, under one
//!   job record, through a write conditioned on the record still pending
//!   and the item still holding its id (`Store::fire_publish`). A message
//!   earlier than `at` (the scheduler may be a minute early) goes back on
//!   the queue delayed until then; it is never dropped. A schedule that
//!   cannot run is marked `failed` with its reason, nothing else written,
//!   and its record's change sends the `schedule.failed` event.
//! - `cancelled`: after a write that cancels (a delete, an explicit
//!   publish or unpublish: the item's event), ends the item's pending
//!   records that the item no longer holds.

use std::collections::BTreeMap;

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use serde::{Deserialize, Serialize};

use super::{Failure, Worker, MAX_DELAY_SECONDS};
use crate::content::{revert_input, validate_full, Author};
use crate::error::{Causes, Error, FieldErrors};
use crate::event::Event;
use crate::ids::{CollectionKey, ItemId, OrgId};
use crate::schedule::{Schedule, ScheduleAction, ScheduleState, REASON_GONE};
use crate::store::entries::Indexing;
use crate::store::schedules::effective;
use crate::store::ItemWrite;

/// How long EventBridge Scheduler keeps retrying a target it cannot
/// reach (then the DLQ), and how many times.
const SCHEDULER_MAX_EVENT_AGE_SECONDS: i32 = 86_400;
const SCHEDULER_MAX_RETRIES: i32 = 185;

/// A schedule's step, as a message on the events queue:
/// `{"schedule": {"step": "fire", "org": …, "collection": …, "item_id": …, "id": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleMessage {
    pub schedule: ScheduleStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleStep {
    pub step: Step,
    pub org: OrgId,
    pub collection: CollectionKey,
    pub item_id: ItemId,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Arm,
    Disarm,
    Fire,
}

impl ScheduleMessage {
    pub fn of(s: &Schedule, step: Step) -> Self {
        ScheduleMessage {
            schedule: ScheduleStep {
                step,
                org: s.org.clone(),
                collection: s.collection.clone(),
                item_id: s.item_id,
                id: s.id.clone(),
            },
        }
    }
}

/// Where the worker creates schedules and what they send: the
/// `FOLIO_SCHEDULE_*` settings.
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub client: aws_sdk_scheduler::Client,
    /// `FOLIO_SCHEDULE_GROUP`
    pub group: String,
    /// `FOLIO_SCHEDULER_ROLE_ARN`: the role EventBridge Scheduler sends as.
    pub role_arn: String,
    /// `FOLIO_SCHEDULE_TARGET_ARN`: the events queue.
    pub target_arn: String,
    /// `FOLIO_SCHEDULE_DLQ_ARN`: where fires it could not send go.
    pub dlq_arn: String,
}

fn job_error(job: &str) -> impl Fn(Error) -> Failure + '_ {
    move |error| Failure::Job {
        job: job.to_owned(),
        error,
    }
}

impl Worker {
    pub(super) async fn schedule_step(&self, m: &ScheduleMessage) -> Result<(), Failure> {
        let s = &m.schedule;
        let what = match s.step {
            Step::Arm => "schedule_arm",
            Step::Disarm => "schedule_disarm",
            Step::Fire => "schedule_fire",
        };
        let fail = job_error(what);
        let stored = self
            .store
            .schedule(&s.org, &s.collection, &s.item_id, &s.id)
            .await
            .map_err(&fail)?;
        let Some(stored) = stored else {
            tracing::info!(schedule = %s.id, step = what, "no such schedule; nothing to do");
            return Ok(());
        };
        match s.step {
            Step::Arm => self.arm(&stored).await.map_err(&fail),
            Step::Disarm => self.disarm(&stored).await.map_err(&fail),
            Step::Fire => self.fire_when_due(&stored).await,
        }
    }

    fn scheduler(&self) -> Result<&Scheduler, Error> {
        self.scheduler
            .as_ref()
            .ok_or_else(|| Error::internal("a schedule to arm but no scheduler is set"))
    }

    /// Sends `message` to the events queue, delayed by `delay` seconds.
    async fn send_self(&self, message: &ScheduleMessage, delay: u64) -> Result<(), Error> {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(serde_json::to_string(message).map_err(Error::internal)?)
            .delay_seconds(i32::try_from(delay.min(MAX_DELAY_SECONDS)).unwrap_or(0))
            .send()
            .await
            .map_err(|e| Error::internal(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn arm(&self, s: &Schedule) -> Result<(), Error> {
        if s.state != ScheduleState::Pending {
            return Ok(());
        }
        let fire = ScheduleMessage::of(s, Step::Fire);
        let due = s
            .at_time()
            .is_none_or(|at| at <= time::OffsetDateTime::now_utc());
        if due {
            tracing::info!(schedule = %s.id, "its time has passed; fired at once");
            return self.send_self(&fire, 0).await;
        }
        let sch = self.scheduler()?;
        let target = Target::builder()
            .arn(&sch.target_arn)
            .role_arn(&sch.role_arn)
            .input(serde_json::to_string(&fire).map_err(Error::internal)?)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_event_age_in_seconds(SCHEDULER_MAX_EVENT_AGE_SECONDS)
                    .maximum_retry_attempts(SCHEDULER_MAX_RETRIES)
                    .build(),
            )
            .dead_letter_config(DeadLetterConfig::builder().arn(&sch.dlq_arn).build())
            .build()
            .map_err(Error::internal)?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(Error::internal)?;
        let made = sch
            .client
            .create_schedule()
            .name(&s.id)
            .group_name(&sch.group)
            .schedule_expression(s.expression())
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .client_token(&s.id)
            .send()
            .await;
        match made {
            Ok(_) => {
                tracing::info!(schedule = %s.id, at = %s.at, "schedule armed");
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                tracing::info!(schedule = %s.id, "schedule armed already");
                Ok(())
            }
            Err(e) => Err(Error::internal(
                aws_sdk_scheduler::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }

    async fn disarm(&self, s: &Schedule) -> Result<(), Error> {
        let sch = self.scheduler()?;
        let gone = sch
            .client
            .delete_schedule()
            .name(&s.id)
            .group_name(&sch.group)
            .client_token(format!("disarm-{}", s.id))
            .send()
            .await;
        match gone {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::internal(
                aws_sdk_scheduler::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }

    /// Fires a pending schedule once it is due; an early message waits.
    async fn fire_when_due(&self, s: &Schedule) -> Result<(), Failure> {
        let fail = job_error("schedule_fire");
        if s.state != ScheduleState::Pending {
            tracing::info!(schedule = %s.id, state = s.state.as_str(), "schedule ended already");
            return Ok(());
        }
        let now = time::OffsetDateTime::now_utc();
        if let Some(at) = s.at_time().filter(|at| *at > now) {
            let wait = (at - now).whole_seconds().max(0) as u64 + 1;
            tracing::info!(schedule = %s.id, wait, "early; back on the queue until its time");
            return self
                .send_self(&ScheduleMessage::of(s, Step::Fire), wait)
                .await
                .map_err(fail);
        }
        let event_id = format!("schedule#{}", s.id);
        self.run_claimed(&event_id, "fire".to_owned(), self.fire(s))
            .await
    }

    /// Runs a due schedule: the write, or its end as failed or cancelled.
    /// The content it checks is the content it writes: the write expects
    /// the version read, and an edit landing in between makes it read and
    /// check again.
    async fn fire(&self, s: &Schedule) -> Result<(), Error> {
        let now = crate::clock::now();
        let store = &self.store;
        for _ in 0..FIRE_READS {
            let item = store.get_item(&s.org, &s.collection, &s.item_id).await?;
            let Some(item) = item else {
                store.fail_schedule(s, REASON_GONE, &now).await?;
                return Ok(());
            };
            if !holds(&item, s) {
                store
                    .end_schedule(s, ScheduleState::Cancelled, None, &now)
                    .await?;
                return Ok(());
            }
            let org = store.org_settings(&s.org).await?;
            let Some(collection) = store.get_collection_strong(&s.org, &s.collection).await? else {
                store
                    .fail_schedule(s, "The item's collection no longer exists.", &now)
                    .await?;
                return Ok(());
            };
            let indexing = Indexing::of(&org, &collection);
            let by = Author {
                label: Some(format!("schedule {}", s.id)),
                token: None,
                request_id: format!("schedule#{}", s.id),
            };
            let w = ItemWrite {
                org: &s.org,
                collection: &s.collection,
                id: s.item_id,
                now: &now,
                expected: Some(item.version),
                request_id: &by.request_id,
                indexing: &indexing,
                by: &by,
            };
            let written = match s.action {
                ScheduleAction::Unpublish => store.fire_unpublish(&w, s).await,
                ScheduleAction::Publish => {
                    // As a PUT of the newest content would be checked today.
                    let input = revert_input(&org, &collection, &item.fields);
                    let mut errors = FieldErrors::new();
                    let validated = validate_full(&org, &collection, &input.input, "", &mut errors);
                    if !errors.is_empty() {
                        let reason = format!("The item no longer validates: {}", list(&errors));
                        store.fail_schedule(s, &reason, &now).await?;
                        return Ok(());
                    }
                    if let Some(reason) = self.gone_targets(s, &validated.refs).await? {
                        store.fail_schedule(s, &reason, &now).await?;
                        return Ok(());
                    }
                    store
                        .fire_publish(&w, s, &validated.values, &validated.refs)
                        .await
                }
            };
            match written {
                Ok(w) => {
                    tracing::info!(schedule = %s.id, action = s.action.as_str(), version = w.version, changed = w.changed, "schedule fired");
                    return Ok(());
                }
                // An edit landed since the read: read and check again.
                Err(Error::VersionMismatch { .. }) => continue,
                // Cancelled, ended by another delivery, or the item busy
                // with other writers: the item says which.
                Err(e @ (Error::Conflict(_) | Error::NotFound)) => {
                    let now_item = store.get_item(&s.org, &s.collection, &s.item_id).await?;
                    if now_item.is_some_and(|i| holds(&i, s)) {
                        return Err(e);
                    }
                    store
                        .end_schedule(s, ScheduleState::Cancelled, None, &now)
                        .await?;
                    return Ok(());
                }
                Err(e @ (Error::Invalid(_) | Error::BadRequest(_) | Error::TooLarge(_))) => {
                    let reason = match &e {
                        Error::Invalid(errors) => {
                            format!("The item no longer validates: {}", list(errors))
                        }
                        other => other.to_string(),
                    };
                    tracing::info!(schedule = %s.id, error = %Causes(&e), "schedule failed");
                    store.fail_schedule(s, &reason, &now).await?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal(
            "the item kept changing under its schedule; the queue retries the fire",
        ))
    }

    /// Why the references of the content to publish cannot be published:
    /// a `restrict` one to an item deleted or gone.
    async fn gone_targets(
        &self,
        s: &Schedule,
        refs: &[crate::content::OutRef],
    ) -> Result<Option<String>, Error> {
        use crate::schema::OnDelete;
        let restrict: Vec<_> = refs
            .iter()
            .filter(|r| r.on_delete == OnDelete::Restrict)
            .map(|r| (r.collection.clone(), r.id))
            .collect();
        let found = self.store.get_items(&s.org, &restrict).await?;
        let now = crate::store::now_epoch();
        Ok(restrict
            .iter()
            .find(|t| found.get(*t).is_none_or(|i| !i.is_live(now)))
            .map(|(c, id)| format!("A referenced item is gone: {c}/{id}.")))
    }

    /// After an event of a write that may have cancelled schedules (a
    /// delete, publish, unpublish): ends the item's pending records the
    /// item no longer holds (and so disarms them, through the stream).
    pub(super) async fn end_cancelled(&self, e: &Event) -> Result<(), Error> {
        let store = &self.store;
        let schedules = store
            .item_schedules(&e.org, &e.collection, &e.item_id)
            .await?;
        if !schedules.iter().any(|s| s.state == ScheduleState::Pending) {
            return Ok(());
        }
        let item = store.get_item(&e.org, &e.collection, &e.item_id).await?;
        let now = crate::clock::now();
        for s in schedules {
            if s.state == ScheduleState::Pending
                && effective(s.clone(), item.as_ref()).state == ScheduleState::Cancelled
            {
                store
                    .end_schedule(&s, ScheduleState::Cancelled, None, &now)
                    .await?;
                tracing::info!(schedule = %s.id, "schedule cancelled by a write");
            }
        }
        Ok(())
    }
}

/// Reads and checks before a fire gives up for now (the queue retries).
const FIRE_READS: usize = 10;

/// Whether `item` (live) holds `s` pending.
fn holds(item: &crate::content::ItemRecord, s: &Schedule) -> bool {
    item.is_live(crate::store::now_epoch()) && item.pending(s.action) == Some(s.id.as_str())
}

/// Field errors in one line: `field: message; …`.
fn list(errors: &FieldErrors) -> String {
    let by_field: BTreeMap<&String, String> = errors
        .iter()
        .map(|(field, messages)| (field, messages.join(" ")))
        .collect();
    by_field
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}
