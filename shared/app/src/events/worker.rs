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

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::deliver::DeliveryMessage;
use crate::error::{Causes, Error};
use crate::event::{Event, EventType};
use crate::ids::{CollectionKey, OrgId, WebhookId};
use crate::store::cleanup::Detached;
use crate::store::Store;

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
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Webhooks => "webhooks",
            Job::MediaIngest => "media_ingest",
            Job::DetachCleanup => "detach_cleanup",
        }
    }
}

/// The jobs an event asks for.
pub fn jobs(event: &Event) -> Vec<Job> {
    match event.kind {
        EventType::Delete | EventType::Purge => vec![Job::Webhooks, Job::DetachCleanup],
        // A restore too: an item deleted before its media was ingested
        // still holds the source URL.
        EventType::Draft | EventType::Published | EventType::Unpublished | EventType::Restore => {
            vec![Job::Webhooks, Job::MediaIngest]
        }
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

/// A message on the events queue asking for a collection's index build,
/// or the build's continuation (`after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBuild {
    pub org: OrgId,
    pub collection: CollectionKey,
    /// The definition (`updated_at`) the build is for.
    pub schema_at: String,
    /// Where it goes on in the `live` index (None: from the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Before any page: the purge of old entries, going on in its
    /// `purge_round`th message (0: the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub purge_round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl IndexBuild {
    /// The job record's event id: one per definition built.
    fn job_event(&self) -> String {
        crate::store::entries::build_job(&self.org, &self.collection, &self.schema_at)
    }

    /// The job record's name: one per page it starts at, and per round
    /// of the purge before them.
    fn job_key(&self) -> String {
        match (&self.after, self.purge_round) {
            (Some(after), _) => format!("index_build@{after}"),
            (None, 0) => "index_build".to_owned(),
            (None, round) => format!("index_build#purge{round}"),
        }
    }
}

/// `{"index_build": …}` on the queue, beside events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildMessage {
    pub index_build: IndexBuild,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Incoming {
    Build(BuildMessage),
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
        }
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
    /// `FOLIO_JOB_LEASE_SECONDS`, `FOLIO_SCHEMA_CACHE_SECONDS` (the
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
        Ok(Worker::new(
            Store::new(crate::store::dynamodb_client(&sdk), table),
            aws_sdk_sqs::Client::new(&sdk),
            queue,
            Duration::from_secs(lease),
        )
        .with_deliveries(deliveries)
        .with_media(media)
        .with_settle(settle))
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
            Err(_) => {
                // What it meant to be says what is wrong with it.
                let e = if body.contains("\"index_build\"") {
                    serde_json::from_str::<BuildMessage>(body).err()
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

    /// The item of a content event and its `media` fields that hold a URL
    /// still to ingest; None when there is nothing to do (the item moved on
    /// to a newer version, whose own event ingests it, or holds none).
    async fn media_plan(
        &self,
        e: &Event,
    ) -> Result<Option<(crate::content::ItemRecord, Vec<(String, String)>)>, Error> {
        let Some(item) = self
            .store
            .get_item(&e.org, &e.collection, &e.item_id)
            .await?
        else {
            return Ok(None);
        };
        if item.deleted_at.is_some() || item.version != e.version {
            return Ok(None);
        }
        let Some(collection) = self.store.get_collection(&e.org, &e.collection).await? else {
            return Ok(None);
        };
        let media_fields: Vec<&str> = collection
            .fields
            .iter()
            .filter(|f| matches!(f.kind, crate::schema::FieldType::Media))
            .map(|f| f.key.as_str())
            .collect();
        let sources: Vec<(String, String)> = item
            .fields
            .iter()
            .filter(|(key, _)| {
                // `photo`, or `en.photo` in a localized organization.
                let field = key.rsplit_once('.').map_or(key.as_str(), |(_, f)| f);
                media_fields.contains(&field)
            })
            .filter_map(|(key, v)| Some((key.clone(), v.as_str()?.to_owned())))
            .filter(|(_, url)| {
                !url.is_empty() && !self.media.as_ref().is_some_and(|m| m.is_library_url(url))
            })
            .collect();
        Ok((!sources.is_empty()).then_some((item, sources)))
    }

    /// Downloads and stores each source, then rewrites the fields that
    /// still hold them (`store::media`). A transient failure (timeout, 5xx,
    /// storage) fails the job after recording it, so the queue retries it.
    async fn ingest(
        &self,
        e: &Event,
        item: crate::content::ItemRecord,
        sources: Vec<(String, String)>,
    ) -> Result<(), Error> {
        let media = self.media.as_ref().ok_or_else(|| {
            Error::internal("an item holds media URLs but no media bucket is set")
        })?;
        let results: Vec<(String, String, Result<String, crate::media::IngestError>)> =
            stream::iter(sources)
                .map(|(key, src)| async move {
                    let r = media.ingest(&src).await;
                    (key, src, r)
                })
                .buffer_unordered(MEDIA_CONCURRENCY)
                .collect()
                .await;
        let mut ingested = Vec::new();
        let mut failed = Vec::new();
        let mut transient = 0;
        for (key, src, r) in results {
            match r {
                Ok(lib) => ingested.push((key, src, lib)),
                Err(err) => {
                    // The field name, never the URL (it may carry a token).
                    tracing::warn!(event_id = %e.event_id, field = %key, error = %Causes(&err), "media not ingested");
                    transient += usize::from(err.is_transient());
                    failed.push((key, src, err.to_string()));
                }
            }
        }
        let applied = self
            .store
            .apply_media(
                &item,
                &ingested,
                &failed,
                &crate::clock::now(),
                &format!("media:{}", e.event_id),
            )
            .await?;
        tracing::info!(event_id = %e.event_id, ingested = ingested.len(), failed = failed.len(), applied = ?applied, "media ingest");
        if transient > 0 {
            return Err(Error::internal(format!(
                "{transient} media downloads failed for now"
            )));
        }
        Ok(())
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

    /// The `index_build` job: builds what the definition `b.schema_at`
    /// lists in `building`, once the schema cache has turned over.
    async fn index_build(&self, b: IndexBuild) -> Result<(), Failure> {
        let fail = |error: Error| Failure::Job {
            job: b.job_key(),
            error,
        };
        let store = &self.store;
        let Some(collection) = store
            .get_collection_strong(&b.org, &b.collection)
            .await
            .map_err(fail)?
        else {
            return Ok(());
        };
        // Stored times sort as strings. Older than the message: not the
        // definition as last written (cannot happen with a strong read).
        if collection.updated_at < b.schema_at {
            return Err(fail(Error::internal(
                "read a definition older than the build's",
            )));
        }
        if collection.updated_at != b.schema_at {
            tracing::info!(collection = %b.collection, "the definition changed since; its own build follows");
            return Ok(());
        }
        let org = store.org_settings(&b.org).await.map_err(fail)?;
        if Store::build_fields(&org, &collection).is_empty() {
            return Ok(());
        }
        let wait = crate::store::entries::settle_left(&collection.updated_at, self.settle)
            .map_err(fail)?;
        if !wait.is_zero() {
            // Instances may still hold the definition without these
            // fields indexed, writing items without their entries.
            let delay = wait.as_secs_f64().ceil() as u64;
            self.send_build(&b, delay.clamp(1, MAX_DELAY_SECONDS))
                .await
                .map_err(fail)?;
            return Ok(());
        }
        let work = self.build_step(&org, collection, &b);
        self.run_claimed(&b.job_event(), b.job_key(), work).await
    }

    /// Builds pages from `b.after` for `build_budget`, then queues the
    /// rest; the last page marks the fields built.
    async fn build_step(
        &self,
        org: &crate::schema::Org,
        collection: crate::schema::Collection,
        b: &IndexBuild,
    ) -> Result<(), Error> {
        let store = &self.store;
        let started = std::time::Instant::now();
        let run = ulid::Ulid::new().to_string();
        let mut built = 0;
        if b.after.is_none() {
            let purged = store
                .purge_once(
                    org,
                    &collection,
                    self.lease,
                    self.purge_page,
                    Some(self.build_budget),
                )
                .await?;
            if !purged.done {
                tracing::info!(collection = %b.collection, purged = purged.entries, "the purge goes on in another message");
                if b.purge_round + 1 >= PURGE_ROUNDS_WARN {
                    // Writes re-adding entries as fast as the purge deletes them.
                    tracing::warn!(collection = %b.collection, rounds = b.purge_round + 1, "the index build's purge has not caught up");
                }
                let more = IndexBuild {
                    purge_round: b.purge_round + 1,
                    ..b.clone()
                };
                return self.send_build(&more, 0).await;
            }
            tracing::info!(collection = %b.collection, purged = purged.entries, "index build started");
        }
        let mut after = b.after.clone();
        loop {
            let page = store
                .build_page(org, &collection, after.as_deref(), self.build_page, &run)
                .await?;
            built += page.items;
            let Some(next) = page.next else {
                break;
            };
            if started.elapsed() >= self.build_budget {
                tracing::info!(collection = %b.collection, built, "index build goes on in another message");
                let more = IndexBuild {
                    after: Some(next),
                    ..b.clone()
                };
                return self.send_build(&more, 0).await;
            }
            // A build for a replaced definition stops here, before the
            // newer one's build (after the cache time) purges.
            match store.get_collection_strong(&b.org, &b.collection).await? {
                Some(c) if c.updated_at == b.schema_at => after = Some(next),
                _ => {
                    tracing::info!(collection = %b.collection, "the definition changed during the build; its own build follows");
                    return Ok(());
                }
            }
        }
        match store.finish_build(org, &collection).await {
            Ok(()) => {
                tracing::info!(collection = %b.collection, built, "index built");
                Ok(())
            }
            Err(Error::Conflict(_)) => {
                tracing::info!(collection = %b.collection, "the definition changed during the build; its own build follows");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Queues a build message (`delay` seconds before it can be received).
    async fn send_build(&self, b: &IndexBuild, delay: u64) -> Result<(), Error> {
        let body = BuildMessage {
            index_build: b.clone(),
        };
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(serde_json::to_string(&body).map_err(Error::internal)?)
            .delay_seconds(i32::try_from(delay).unwrap_or(MAX_DELAY_SECONDS as i32))
            .send()
            .await
            .map_err(|e| Error::internal(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
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
mod tests {
    use super::*;
    use crate::ids::{CollectionKey, ItemId, OrgId};

    fn event(kind: EventType) -> Event {
        Event::new(
            &OrgId::parse("acme").unwrap(),
            &CollectionKey::parse("team").unwrap(),
            ItemId::parse("01JF0000000000000000000000").unwrap(),
            3,
            kind,
        )
    }

    #[test]
    fn every_event_asks_for_webhooks_and_deletes_and_purges_for_cleanup() {
        for kind in [EventType::Delete, EventType::Purge] {
            assert_eq!(jobs(&event(kind)), vec![Job::Webhooks, Job::DetachCleanup]);
        }
        for kind in [
            EventType::Draft,
            EventType::Published,
            EventType::Unpublished,
            EventType::Restore,
        ] {
            assert_eq!(
                jobs(&event(kind)),
                vec![Job::Webhooks, Job::MediaIngest],
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_continuation_is_an_event_with_where_to_resume_and_its_own_job_record() {
        let first = Message {
            event: event(EventType::Delete),
            resume: None,
        };
        let text = serde_json::to_string(&first).unwrap();
        assert!(!text.contains("resume"), "a plain event: {text}");
        let parsed: Message = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, first);
        let next = Message {
            resume: Some(Resume {
                job: Job::DetachCleanup,
                after: "REF#posts#01JF".into(),
            }),
            ..first.clone()
        };
        let parsed: Message = serde_json::from_str(&serde_json::to_string(&next).unwrap()).unwrap();
        assert_eq!(parsed, next);
        assert_eq!(first.job_key(Job::DetachCleanup), "detach_cleanup");
        assert_eq!(
            next.job_key(Job::DetachCleanup),
            "detach_cleanup@REF#posts#01JF"
        );
    }
}
