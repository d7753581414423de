//! The worker: the events queue → the jobs each event asks for. Every job
//! is idempotent per `(event_id, job)` through its job record
//! (`store::jobs`): a message delivered twice, or twice at once, repeats no
//! side effect that already happened. Each message succeeds or fails on its
//! own (`batchItemFailures`), so one poison message never fails its
//! neighbours; after the queue's `maxReceiveCount` it lands in the DLQ.
//!
//! Jobs (docs/design.md §8, §9):
//! - `webhooks`, on every event: one message per endpoint that wants the
//!   event on the deliveries queue (`events::deliver` sends them). An
//!   organization without a matching endpoint costs one Query, no record.
//! - `media_ingest`, on content changes and restores: each `media` field holding a URL
//!   not yet in the library is downloaded through the address guard,
//!   stored in the media bucket and rewritten (`media`, `store::media`).
//! - `detach_cleanup`, on a delete or purge: removes the item from the
//!   `detach` fields of every item that references it, a page of referrers
//!   per message; a longer list continues in a message of its own, so
//!   thousands of referrers finish across invocations.
//! - `index_build`, on a collection definition with fields to build (the
//!   relay sends `{"index_build": …}`): once the functions' schema cache
//!   has turned over (`FOLIO_SCHEMA_CACHE_SECONDS` after the change; until
//!   then the message comes back delayed), removes the fields' old entries
//!   and writes every live item's, a page at a time, going on in a message
//!   of its own after `build_budget`; then marks the fields built. A build
//!   for a definition since replaced stops at its next page (the newer
//!   definition has its own build, which waits the cache time first).
//! - `schedules`, on a delete, publish or unpublish: ends the item's
//!   pending schedules that the write cancelled; and the schedules' own
//!   steps (`{"schedule": …}`: arm, disarm, fire; `worker::schedules`).

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::deliver::DeliveryMessage;
use crate::error::{Causes, Error};
use crate::event::{Event, EventType};
use crate::ids::WebhookId;
use crate::store::cleanup::Detached;
use crate::store::Store;

mod build;
mod media;
mod schedules;
mod versions;

pub use build::{BuildMessage, IndexBuild};
pub use schedules::{ScheduleMessage, ScheduleStep, Scheduler, Step};

/// Referrers read per page of a cleanup (one Query); each is one transaction.
pub const CLEANUP_PAGE: i32 = 100;
/// Referrers detached at once within a page.
const CLEANUP_CONCURRENCY: usize = 8;
/// Media downloads of one item at once.
const MEDIA_CONCURRENCY: usize = 4;
/// Messages of one batch handled at once.
const MESSAGE_CONCURRENCY: usize = 10;
/// How long one message of an index build writes entries before the rest
/// goes on in another (the worker's timeout is 60 s; a page takes well
/// under a second on AWS).
const BUILD_BUDGET: Duration = Duration::from_secs(30);
/// Purge rounds after which each further round logs a warning.
const PURGE_ROUNDS_WARN: u32 = 20;
/// SQS delays a message at most 15 minutes.
const MAX_DELAY_SECONDS: u64 = 900;

/// A background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    Webhooks,
    MediaIngest,
    DetachCleanup,
    /// Trimming the item's versions, or removing them after a purge
    /// (`worker::versions`).
    Versions,
    /// Ending the pending schedules a write cancelled (`worker::schedules`).
    Schedules,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Webhooks => "webhooks",
            Job::MediaIngest => "media_ingest",
            Job::DetachCleanup => "detach_cleanup",
            Job::Versions => "versions",
            Job::Schedules => "schedules",
        }
    }
}

/// The jobs an event asks for.
pub fn jobs(event: &Event) -> Vec<Job> {
    match event.kind {
        EventType::Delete => vec![
            Job::Webhooks,
            Job::DetachCleanup,
            Job::Versions,
            Job::Schedules,
        ],
        EventType::Purge => vec![Job::Webhooks, Job::DetachCleanup, Job::Versions],
        // Publishing and unpublishing cancel schedules of their action.
        EventType::Published | EventType::Unpublished => vec![
            Job::Webhooks,
            Job::MediaIngest,
            Job::Versions,
            Job::Schedules,
        ],
        // A restore too: an item deleted before its media was ingested
        // still holds the source URL.
        EventType::Draft | EventType::Restore => {
            vec![Job::Webhooks, Job::MediaIngest, Job::Versions]
        }
        EventType::ScheduleFailed => vec![Job::Webhooks],
    }
}

/// A message on the events queue: an event, or the continuation of one of
/// its jobs (`resume`), which runs only that job from where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(flatten)]
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub job: Job,
    /// Where the job continues (for a cleanup, the last edge done).
    pub after: String,
}

impl Message {
    /// The job record's name for `job` in this message: one per page.
    pub fn job_key(&self, job: Job) -> String {
        match &self.resume {
            Some(r) => format!("{}@{}", job.name(), r.after),
            None => job.name().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Incoming {
    Build(BuildMessage),
    Schedule(ScheduleMessage),
    Event(Message),
}

/// Why a message was not done.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("not an event: {0}")]
    Poison(String),
    #[error("job {0} is running in another delivery")]
    Busy(String),
    /// Its log line shows `error`'s causes (`each_message`).
    #[error("job {job} failed")]
    Job {
        job: String,
        #[source]
        error: Error,
    },
}

#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// How long a claimed job is held before another delivery may run it:
    /// longer than the worker's timeout.
    lease: Duration,
    /// Referrers per page of a cleanup.
    cleanup_page: i32,
    /// The deliveries queue (webhooks).
    deliveries_url: Option<String>,
    /// Media ingest's downloader and bucket.
    media: Option<crate::media::Ingester>,
    /// How long after a schema change an index build waits: the
    /// functions' schema cache time, after which every instance writes
    /// the new fields' entries.
    settle: Duration,
    /// How long one message builds before going on in another.
    build_budget: Duration,
    /// Items per page of a build.
    build_page: i32,
    /// Old entries per page of a build's purge.
    purge_page: i32,
    /// Versions of an item kept past the published one and the draft
    /// (`FOLIO_VERSIONS_KEEP`).
    versions_keep: u64,
    /// Where schedules are armed (EventBridge Scheduler).
    scheduler: Option<Scheduler>,
}

impl Worker {
    pub fn new(store: Store, sqs: aws_sdk_sqs::Client, queue_url: String, lease: Duration) -> Self {
        Worker {
            store,
            sqs,
            queue_url,
            lease,
            cleanup_page: CLEANUP_PAGE,
            deliveries_url: None,
            media: None,
            settle: Duration::from_secs(30),
            build_budget: BUILD_BUDGET,
            build_page: crate::store::entries::BUILD_PAGE,
            purge_page: crate::store::entries::PURGE_PAGE,
            versions_keep: crate::settings::VERSIONS_KEEP,
            scheduler: None,
        }
    }

    /// Where schedules are armed. Without it, a schedule to arm fails (and
    /// is retried), rather than being dropped.
    pub fn with_scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Keeps the newest `n` versions of each item (at least 1), besides
    /// its published version and its draft.
    pub fn with_versions_keep(mut self, n: u64) -> Self {
        self.versions_keep = n.max(1);
        self
    }

    /// Waits `settle` after a schema change before building its index
    /// (from the environment: `FOLIO_SCHEMA_CACHE_SECONDS` + `SETTLE_MARGIN`).
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Builds for `budget` per message, pages of `page` items (tests:
    /// zero and a few, to see a build go on across messages).
    pub fn with_build_budget(mut self, budget: Duration, page: i32) -> Self {
        self.build_budget = budget;
        self.build_page = page.max(1);
        self
    }

    /// Purges old entries `page` at a time (tests: a few, to see a purge
    /// go on across messages).
    pub fn with_purge_page(mut self, page: i32) -> Self {
        self.purge_page = page.max(1);
        self
    }

    /// Where media ingest stores files. Without it, an event whose item
    /// holds a URL to ingest fails (and is retried), rather than being dropped.
    pub fn with_media(mut self, media: crate::media::Ingester) -> Self {
        self.media = Some(media);
        self
    }

    /// Where webhook deliveries go. Without it, an event that an endpoint
    /// wants fails (and is retried), rather than being dropped.
    pub fn with_deliveries(mut self, queue_url: String) -> Self {
        self.deliveries_url = Some(queue_url);
        self
    }

    /// Cleans up `n` referrers a message (tests: to see continuations).
    pub fn with_cleanup_page(mut self, n: i32) -> Self {
        self.cleanup_page = n.max(1);
        self
    }

    /// `FOLIO_TABLE`, `FOLIO_QUEUE_URL`, `FOLIO_DELIVERIES_QUEUE_URL`,
    /// `FOLIO_JOB_LEASE_SECONDS`, `FOLIO_VERSIONS_KEEP`, the scheduler's
    /// (`FOLIO_SCHEDULE_GROUP`, `FOLIO_SCHEDULER_ROLE_ARN`,
    /// `FOLIO_SCHEDULE_TARGET_ARN`, `FOLIO_SCHEDULE_DLQ_ARN`), `FOLIO_SCHEMA_CACHE_SECONDS` (the
    /// functions' cache, which an index build waits out) and media
    /// ingest's: all read as the function starts.
    pub async fn from_env() -> Result<Self, Error> {
        use crate::settings::{self, Env};
        let env = Env::process();
        let table = env.required("FOLIO_TABLE")?;
        let queue = env.required("FOLIO_QUEUE_URL")?;
        let deliveries = env.required("FOLIO_DELIVERIES_QUEUE_URL")?;
        let lease = env.number("FOLIO_JOB_LEASE_SECONDS", settings::JOB_LEASE_SECONDS)?;
        let settle = Duration::from_secs(
            env.number("FOLIO_SCHEMA_CACHE_SECONDS", settings::SCHEMA_CACHE_SECONDS)?,
        ) + crate::store::entries::SETTLE_MARGIN;
        let sdk = crate::aws::sdk_config().await?;
        let media = crate::media::Ingester::from_env(&sdk, &env)?;
        let keep = env.number("FOLIO_VERSIONS_KEEP", settings::VERSIONS_KEEP)?;
        let scheduler = Scheduler {
            client: aws_sdk_scheduler::Client::new(&sdk),
            group: env.required("FOLIO_SCHEDULE_GROUP")?,
            role_arn: env.required("FOLIO_SCHEDULER_ROLE_ARN")?,
            target_arn: env.required("FOLIO_SCHEDULE_TARGET_ARN")?,
            dlq_arn: env.required("FOLIO_SCHEDULE_DLQ_ARN")?,
        };
        Ok(Worker::new(
            Store::new(crate::store::dynamodb_client(&sdk), table),
            aws_sdk_sqs::Client::new(&sdk),
            queue,
            Duration::from_secs(lease),
        )
        .with_deliveries(deliveries)
        .with_media(media)
        .with_settle(settle)
        .with_versions_keep(keep)
        .with_scheduler(scheduler))
    }

    /// Handles one batch; the response names each message not done.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        super::each_message(
            event,
            MESSAGE_CONCURRENCY,
            |m| async move { self.handle_message(&m).await },
            |e| matches!(e, Failure::Busy(_)),
        )
        .await
    }

    async fn handle_message(&self, m: &SqsMessage) -> Result<(), Failure> {
        let body = m.body.as_deref().unwrap_or_default();
        let message = match serde_json::from_str(body) {
            Ok(Incoming::Event(message)) => message,
            Ok(Incoming::Build(b)) => return self.index_build(b.index_build).await,
            Ok(Incoming::Schedule(s)) => return self.schedule_step(&s).await,
            Err(_) => {
                // What it meant to be says what is wrong with it.
                let e = if body.contains("\"index_build\"") {
                    serde_json::from_str::<BuildMessage>(body).err()
                } else if body.contains("\"step\"") {
                    serde_json::from_str::<ScheduleMessage>(body).err()
                } else {
                    serde_json::from_str::<Message>(body).err()
                };
                return Err(Failure::Poison(format!(
                    "{} (receive count {:?})",
                    e.map(|e| e.to_string()).unwrap_or_default(),
                    m.attributes.get("ApproximateReceiveCount")
                )));
            }
        };
        let e = &message.event;
        let jobs = match &message.resume {
            Some(r) => vec![r.job],
            None => jobs(e),
        };
        tracing::info!(
            event_id = %e.event_id,
            event = e.kind.as_str(),
            collection = %e.collection,
            item = %e.item_id,
            version = e.version,
            jobs = ?jobs.iter().map(|j| j.name()).collect::<Vec<_>>(),
            "event received"
        );
        for job in jobs {
            match job {
                Job::Webhooks => {
                    let hooks =
                        self.store
                            .list_webhooks(&e.org)
                            .await
                            .map_err(|error| Failure::Job {
                                job: job.name().to_owned(),
                                error,
                            })?;
                    let wanted: Vec<WebhookId> = hooks
                        .into_iter()
                        .filter(|h| h.wants(e))
                        .map(|h| h.id)
                        .collect();
                    if !wanted.is_empty() {
                        self.run_once(&message, job, self.fan_out(e, &wanted))
                            .await?;
                    }
                }
                Job::MediaIngest => {
                    let plan = self.media_plan(e).await.map_err(|error| Failure::Job {
                        job: job.name().to_owned(),
                        error,
                    })?;
                    if let Some((item, sources)) = plan {
                        self.run_once(&message, job, self.ingest(e, item, sources))
                            .await?;
                    }
                }
                Job::DetachCleanup => {
                    self.run_once(&message, job, self.detach_cleanup(&message))
                        .await?
                }
                Job::Versions => self.version_upkeep(e).await.map_err(|error| Failure::Job {
                    job: job.name().to_owned(),
                    error,
                })?,
                Job::Schedules => self.end_cancelled(e).await.map_err(|error| Failure::Job {
                    job: job.name().to_owned(),
                    error,
                })?,
            }
        }
        Ok(())
    }

    /// Runs `work` (job `job` of the message) unless a delivery already
    /// did: claim, run, mark done.
    async fn run_once(
        &self,
        message: &Message,
        job: Job,
        work: impl std::future::Future<Output = Result<(), Error>>,
    ) -> Result<(), Failure> {
        self.run_claimed(&message.event.event_id, message.job_key(job), work)
            .await
    }

    /// Runs `work` under the job record `(event_id, key)`: claim, run,
    /// mark done; a record already done skips it, one held is Busy.
    async fn run_claimed(
        &self,
        event_id: &str,
        key: String,
        work: impl std::future::Future<Output = Result<(), Error>>,
    ) -> Result<(), Failure> {
        let fail = |error: Error| Failure::Job {
            job: key.clone(),
            error,
        };
        let runs = match self
            .store
            .claim_job(event_id, &key, self.lease)
            .await
            .map_err(fail)?
        {
            crate::store::jobs::Claim::Done => return Ok(()),
            crate::store::jobs::Claim::Busy => return Err(Failure::Busy(key)),
            crate::store::jobs::Claim::Claimed { runs } => runs,
        };
        match work.await {
            Ok(()) => {
                // False only when this run outlived its lease and another
                // claimed the job: that run finishes it.
                let finished = self
                    .store
                    .finish_claim(event_id, &key, runs)
                    .await
                    .map_err(fail)?;
                tracing::info!(event_id = %event_id, job = key, finished, "job done");
                Ok(())
            }
            Err(error) => {
                if let Err(e) = self.store.release_claim(event_id, &key, runs).await {
                    tracing::warn!(error = %Causes(&e), "could not release the job; its lease runs out");
                }
                Err(fail(error))
            }
        }
    }

    /// One delivery message per endpoint; a redelivery may send some
    /// again, and the deliverer's claim per (event, endpoint) absorbs it.
    async fn fan_out(&self, event: &Event, endpoints: &[WebhookId]) -> Result<(), Error> {
        let queue = self.deliveries_url.as_deref().ok_or_else(|| {
            Error::internal("an endpoint wants this event but no deliveries queue is set")
        })?;
        for chunk in endpoints.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, id) in chunk.iter().enumerate() {
                let body = DeliveryMessage {
                    webhook_id: id.clone(),
                    event: event.clone(),
                };
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(&body).map_err(Error::internal)?)
                        .build()
                        .map_err(Error::internal)?,
                );
            }
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    Error::internal(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            if !out.failed.is_empty() {
                return Err(Error::internal(format!(
                    "{} deliveries not queued",
                    out.failed.len()
                )));
            }
        }
        tracing::info!(event_id = %event.event_id, endpoints = endpoints.len(), "deliveries queued");
        Ok(())
    }

    /// One page of the cleanup after a delete or purge; the next page, if
    /// any, goes back on the queue as a continuation.
    async fn detach_cleanup(&self, message: &Message) -> Result<(), Error> {
        let e = &message.event;
        let target = (&e.collection, &e.item_id);
        let after = message.resume.as_ref().map(|r| r.after.as_str());
        let page = self
            .store
            .detach_referrers(&e.org, target, after, self.cleanup_page)
            .await?;
        let now = crate::clock::now();
        let request_id = format!("job:{}", e.event_id);
        // Each referrer collection's indexed fields, whose entries move
        // with the detached values.
        let mut indexing = std::collections::BTreeMap::new();
        for (c, _) in &page.referrers {
            if !indexing.contains_key(c) {
                indexing.insert(c.clone(), self.store.indexing(&e.org, c).await?);
            }
        }
        let none = crate::store::entries::Indexing::none();
        let results: Vec<Result<Detached, Error>> = stream::iter(&page.referrers)
            .map(|(c, id)| {
                let ix = indexing.get(c).unwrap_or(&none);
                self.store
                    .detach(&e.org, target, (c, id), &now, &request_id, ix)
            })
            .buffer_unordered(CLEANUP_CONCURRENCY)
            .collect()
            .await;
        let mut detached = 0;
        for r in results {
            match r? {
                Detached::Done { .. } => detached += 1,
                Detached::NotHeld => {}
                Detached::TargetLive => {
                    tracing::info!(event_id = %e.event_id, "the item was restored; cleanup stops");
                    return Ok(());
                }
            }
        }
        tracing::info!(event_id = %e.event_id, detached, more = page.next.is_some(), "references detached");
        if let Some(after) = page.next {
            let next = Message {
                event: e.clone(),
                resume: Some(Resume {
                    job: Job::DetachCleanup,
                    after,
                }),
            };
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(serde_json::to_string(&next).map_err(Error::internal)?)
                .send()
                .await
                .map_err(Error::internal)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
