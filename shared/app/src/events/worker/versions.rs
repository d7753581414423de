//! Keeping an item's versions in bounds, off the request path: after each
//! change, the versions older than the newest `FOLIO_VERSIONS_KEEP` go,
//! except the published version and the draft; after a purge, all of
//! them. Both are idempotent (deleting what is gone is nothing), so they
//! run without a job record; a failure fails the message, which comes back.

use super::Worker;
use crate::error::Error;
use crate::event::{Event, EventType};

impl Worker {
    /// Trims (or, for a purge, removes) the versions of the event's item.
    pub(super) async fn version_upkeep(&self, e: &Event) -> Result<(), Error> {
        if e.kind == EventType::Purge {
            let n = self
                .store
                .purge_versions(&e.org, &e.collection, &e.item_id)
                .await?;
            tracing::info!(event_id = %e.event_id, removed = n, "versions purged");
            return Ok(());
        }
        // Nothing to trim before the item has more versions than are kept
        // (no read at all).
        if e.version <= self.versions_keep {
            return Ok(());
        }
        let Some(item) = self
            .store
            .get_item(&e.org, &e.collection, &e.item_id)
            .await?
        else {
            return Ok(());
        };
        let protect: Vec<u64> = [item.published_version(), item.draft_version()]
            .into_iter()
            .flatten()
            .collect();
        let n = self
            .store
            .trim_versions(&item, self.versions_keep, &protect)
            .await?;
        if n > 0 {
            tracing::info!(event_id = %e.event_id, removed = n, "versions trimmed");
        }
        Ok(())
    }
}
