//! The worker's `media_ingest` job: which media fields to ingest, and the
//! ingest itself (`media::Ingester`), a few at a time.

use futures::stream::{self, StreamExt};

use super::{Worker, MEDIA_CONCURRENCY};
use crate::error::{Causes, Error};
use crate::event::Event;

impl Worker {
    /// The item of a content event and its `media` fields that hold a URL
    /// still to ingest; None when there is nothing to do (the item moved on
    /// to a newer version, whose own event ingests it, or holds none).
    pub(super) async fn media_plan(
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
    pub(super) async fn ingest(
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
                &crate::content::Author::worker(&e.event_id),
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
}
