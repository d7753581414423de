//! The worker's `index_build` job: its message, the purge of old entries
//! and the pages of the build, each a job of its own, going on in a
//! message of its own after the build budget.

use serde::{Deserialize, Serialize};

use super::{Failure, Worker, MAX_DELAY_SECONDS, PURGE_ROUNDS_WARN};
use crate::error::Error;
use crate::ids::{CollectionKey, OrgId};
use crate::store::Store;

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

impl Worker {
    /// The `index_build` job: builds what the definition `b.schema_at`
    /// lists in `building`, once the schema cache has turned over.
    pub(super) async fn index_build(&self, b: IndexBuild) -> Result<(), Failure> {
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
    pub(super) async fn build_step(
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
    pub(super) async fn send_build(&self, b: &IndexBuild, delay: u64) -> Result<(), Error> {
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
}
