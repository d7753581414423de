//! `DELETE /v2/content/{collection_key}/{item_id}/` and
//! `POST /v2/content/{collection_key}/batch-delete/`. A batch deletes each
//! item exactly as a single delete does (`Store::soft_delete_many`: the
//! same conditions, in shared transactions, one by one when one fails).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::bodies::{BatchDeleteErrors, BatchDeleted};
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

/// Soft-deletes one item.
pub async fn delete_one(
    app: &App,
    call: &Call,
    key: &CollectionKey,
    id: ItemId,
    expected: Option<u64>,
) -> Result<Written, Error> {
    let now = crate::clock::now();
    let org = &call.principal.org;
    let indexing = app.indexing(org, key).await?;
    let by = call.author();
    let w = ItemWrite {
        org,
        collection: key,
        id,
        now: &now,
        expected,
        request_id: &call.request_id,
        indexing: &indexing,
        by: &by,
    };
    app.store
        .soft_delete(&w, app.config.retention_days * 86_400)
        .await
        .map_err(|e| shown_referrers(call, e))
}

/// Names only the referrers this token may read; counts them all.
fn shown_referrers(call: &Call, e: Error) -> Error {
    match e {
        Error::Referenced { by, total } => Error::Referenced {
            by: by
                .into_iter()
                .filter(|r| {
                    CollectionKey::parse(&r.collection).is_ok_and(|c| call.principal.may_read(&c))
                })
                .collect(),
            total,
        },
        e => e,
    }
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
    let now = crate::clock::now();
    let org = &call.principal.org;
    let indexing = app.indexing(org, &key).await?;
    let parsed: Vec<(String, Option<ItemId>)> = unique
        .into_iter()
        .map(|raw| {
            let id = ItemId::parse(&raw).ok();
            (raw, id)
        })
        .collect();
    let by = call.author();
    let ws: Vec<ItemWrite<'_>> = parsed
        .iter()
        .filter_map(|(_, id)| *id)
        .map(|id| ItemWrite {
            org,
            collection: &key,
            id,
            now: &now,
            expected: None,
            request_id: &call.request_id,
            indexing: &indexing,
            by: &by,
        })
        .collect();
    let mut written = app
        .store
        .soft_delete_many(&ws, app.config.retention_days * 86_400)
        .await
        .into_iter();
    let results: Vec<(String, Result<Written, Error>)> = parsed
        .into_iter()
        .map(|(raw, id)| {
            let result = match id {
                Some(_) => written
                    .next()
                    .unwrap_or_else(|| Err(Error::internal("a batch delete result is missing")))
                    .map_err(|e| shown_referrers(&call, e)),
                None => Err(Error::NotFound),
            };
            (raw, result)
        })
        .collect();

    let mut deleted = 0;
    let mut errors = Vec::new();
    for (raw, result) in results {
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
        let body = BatchDeleted {
            deleted_count: deleted,
        };
        Ok(json_response(200, &body))
    } else {
        Ok(json_response(
            400,
            &BatchDeleteErrors {
                detail: "Some content objects could not be deleted.".into(),
                deleted_count: deleted,
                errors,
            },
        ))
    }
}
