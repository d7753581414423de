//! `GET /v2/content/{collection_key}/deleted/` and
//! `POST /v2/content/{collection_key}/{item_id}/restore/` (admin scope):
//! the trash, until DynamoDB TTL purges it after the retention period.

use std::collections::BTreeMap;
use std::convert::Infallible;

use lambda_http::{Body, Request, Response};

use super::bodies::{DeletedList, IdVersion, Restored, RestoredStatus};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::{relinks, render, Rendered, View};
use crate::http::{json_response, serve, with_etag, Route};
use crate::store::entries::Indexing;
use crate::store::{now_epoch, ItemWrite};

pub const LIST: Route = Route {
    pattern: "/v2/content/{collection_key}/deleted/",
    scope: Scope::Admin,
    operation: Some(Operation::Read),
    query_token: true,
};
pub const RESTORE: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/restore/",
    scope: Scope::Admin,
    operation: Some(Operation::Delete),
    query_token: false,
};

pub async fn list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, LIST, |call| async move {
        let key = call.collection_key()?;
        let after = super::read::time_param(&call, "deleted_after")?;
        // Paged like every list; a page is 100 unless asked otherwise, so
        // a small trash still answers whole.
        let (page, page_size) = super::read::paging(&call, super::read::MAX_PAGE_SIZE)?;
        let org = app.org(&call.principal.org).await?;
        let collection = app.collection(&org.id, &key, false).await?;
        let now = now_epoch();
        let deleted: Vec<_> = app
            .store
            .list_deleted(&org.id, &key, after.as_deref())
            .await?
            .into_iter()
            .filter(|i| i.expires_at.is_none_or(|t| t > now))
            .collect();
        let (meta, range) = crate::reads::page_meta(deleted.len(), page, page_size);
        let items: Vec<Rendered> = deleted[range]
            .iter()
            .map(|i| {
                let mut out = render(&org, &collection, i, &View::default());
                out.meta.deleted_at = i.deleted_at.clone();
                out.meta.purge_at = Some(
                    i.expires_at
                        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                        .map(crate::clock::format_time),
                );
                out
            })
            .collect();
        let data = BTreeMap::from([(key.to_string(), items)]);
        Ok(json_response(200, &DeletedList { meta, data }))
    })
    .await
}

pub async fn restore(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, RESTORE, |call| async move {
        let key = call.collection_key()?;
        call.no_body()?;
        let id = call.item_id()?;
        let now = crate::clock::now();
        let org = &call.principal.org;
        // An item comes back only into a defined collection (one deleted
        // since may be defined again, and its trash then restores).
        let collection = app.collection(org, &key, true).await?;
        let indexing = Indexing::of(&*app.org(org).await?, &collection);
        let by = call.author();
        let w = ItemWrite {
            org,
            collection: &key,
            id,
            now: &now,
            expected: super::update::if_match(&call)?,
            request_id: &call.request_id,
            indexing: &indexing,
            by: &by,
        };
        // A restore links what a write would: only through fields that are
        // references today, and only into collections the token may use.
        let plan = |stored| {
            let relinks = relinks(&collection, stored);
            call.allow_references(&relinks.links)?;
            Ok(relinks)
        };
        let version = app.store.restore(&w, plan).await?.version;
        let body = Restored {
            status: RestoredStatus::Restored,
            meta: IdVersion { id, version },
        };
        Ok(with_etag(json_response(200, &body), version))
    })
    .await
}
