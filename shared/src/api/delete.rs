//! `DELETE /v2/content/{collection_key}/{item_id}/` and
//! `POST /v2/content/{collection_key}/batch-delete/`. Both go through
//! `delete_one`, so a batch deletes exactly as single deletes do.

use std::convert::Infallible;

use futures::stream::{self, StreamExt};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::error::Error;
use crate::http::{json_response, no_content, serve, Call, Route};
use crate::ids::{CollectionKey, ItemId};
use crate::store::{ItemWrite, Written};

pub const DELETE: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/",
    scope: Scope::Write,
    operation: Some(Operation::Delete),
    query_token: false,
};
pub const BATCH: Route = Route {
    pattern: "/v2/content/{collection_key}/batch-delete/",
    scope: Scope::Write,
    operation: Some(Operation::Delete),
    query_token: false,
};

pub const MAX_BATCH: usize = 100;
/// Deletes in flight at once in a batch: enough to finish 100 in a few
/// round trips, few enough not to trip DynamoDB's per-partition limits.
pub const BATCH_CONCURRENCY: usize = 25;

/// Soft-deletes one item.
pub async fn delete_one(
    app: &App,
    call: &Call,
    key: &CollectionKey,
    id: ItemId,
    expected: Option<u64>,
) -> Result<Written, Error> {
    let now = super::now();
    let org = &call.principal.org;
    let w = ItemWrite {
        org,
        collection: key,
        id,
        now: &now,
        expected,
        request_id: &call.request_id,
    };
    app.store
        .soft_delete(&w, app.config.retention_days * 86_400)
        .await
        .map_err(|e| match e {
            // Name only the referrers this token may read; count them all.
            Error::Referenced { by, total } => Error::Referenced {
                by: by
                    .into_iter()
                    .filter(|r| {
                        CollectionKey::parse(&r.collection)
                            .is_ok_and(|c| call.principal.may_read(&c))
                    })
                    .collect(),
                total,
            },
            e => e,
        })
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, DELETE, |call| async move {
        let key = call.collection_key()?;
        call.no_body()?;
        let id = call.item_id()?;
        let expected = super::update::if_match(&call)?;
        delete_one(app, &call, &key, id, expected).await?;
        Ok(no_content())
    })
    .await
}

pub async fn batch(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, BATCH, |call| batch_delete(app, call)).await
}

async fn batch_delete(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let key = call.collection_key()?;
    // An unknown collection is a 404 for the request, not 100 "doesn't exist".
    app.collection(&call.principal.org, &key, false).await?;
    let ids: Vec<String> = match call.json::<Value>()? {
        Value::Array(values) => values
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(Error::bad_request(
                    "The body must be a JSON array of item ids (strings).",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(Error::bad_request(
                "The body must be a JSON array of item ids (strings).",
            ))
        }
    };
    if ids.len() > MAX_BATCH {
        return Err(Error::bad_request(format!(
            "At most {MAX_BATCH} ids can be deleted at once; got {}.",
            ids.len()
        )));
    }
    // Each id counts once, in the order first given.
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    let key = &key;
    let call = &call;
    let results: Vec<(usize, String, Result<Written, Error>)> =
        stream::iter(unique.into_iter().enumerate())
            .map(|(i, raw)| async move {
                let result = match ItemId::parse(&raw) {
                    Ok(id) => delete_one(app, call, key, id, None).await,
                    Err(_) => Err(Error::NotFound),
                };
                (i, raw, result)
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
    let mut results = results;
    results.sort_by_key(|(i, _, _)| *i);

    let mut deleted = 0;
    let mut errors = Vec::new();
    for (_, raw, result) in results {
        match result {
            Ok(_) => deleted += 1,
            Err(Error::NotFound) => errors.push(format!("Content object: \"{raw}\" doesn't exist")),
            Err(Error::Referenced { .. }) => errors.push(format!(
                "Content object: \"{raw}\" is used in another content object."
            )),
            Err(e) => {
                if let Error::Internal(source) = &e {
                    tracing::error!(error = %source, id = %raw, "batch delete of one item failed");
                }
                errors.push(format!(
                    "Content object: \"{raw}\" could not be deleted: {e}"
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(json_response(200, &json!({"deletedCount": deleted})))
    } else {
        Ok(json_response(
            400,
            &json!({
                "detail": "Some content objects could not be deleted.",
                "deletedCount": deleted,
                "errors": errors,
            }),
        ))
    }
}
