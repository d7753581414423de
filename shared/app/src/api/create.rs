//! `POST /v2/content/` and `POST /v2/content/{collection_key}/`: create 1–25
//! items atomically, with an optional `Idempotency-Key`.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::bodies::{self, CreatedItem, IdVersion, Pending};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::{validate_full, ItemRecord, OutRef, Status, Validated};
use crate::error::Error;
use crate::http::{json_response, json_text, serve, Call, Route};
use crate::ids::CollectionKey;
use crate::store::entries::Indexing;
use crate::store::{now_epoch, CreateWith, Created, Idempotency};

pub const MAX_ITEMS: usize = 25;
const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

pub const CREATE: Route = Route {
    pattern: "/v2/content/",
    scope: Scope::Write,
    operation: Some(Operation::Create),
    query_token: false,
};
pub const CREATE_IN: Route = Route {
    pattern: "/v2/content/{collection_key}/",
    scope: Scope::Write,
    operation: Some(Operation::Create),
    query_token: false,
};

/// The body of both create paths. `fields` holds one object per item, its
/// values as the collection's schema says (nested by locale when the
/// organization has locales).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "people", "status": "published",
    "fields": [{"name": "Ada", "role": "engineer", "age": 36}]}))]
pub(crate) struct CreateBody {
    /// The collection (`POST /v2/content/` only; the path names it otherwise).
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    status: Option<Status>,
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 25)]
    fields: Vec<Value>,
}

/// Serves both create paths: the collection comes from the path when the
/// path names one, else from the body's `key`.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let route = if req
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/v2/content")
    {
        CREATE
    } else {
        CREATE_IN
    };
    serve(app, req, route, |call| create(app, call)).await
}

async fn create(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let body: CreateBody = call.json()?;
    let key = match (call.param("collection_key"), body.key.as_deref()) {
        (Some(path), Some(k)) if path != k => {
            return Err(Error::field(
                "key",
                "Does not match the collection in the URL.",
            ));
        }
        (Some(_), _) => call.collection_key()?,
        (None, Some(k)) => {
            let key = CollectionKey::parse(k).map_err(|_| Error::NotFound)?;
            call.allow(&key)?;
            key
        }
        (None, None) => return Err(Error::field("key", "This field is required.")),
    };
    if body.fields.is_empty() || body.fields.len() > MAX_ITEMS {
        return Err(Error::field(
            "fields",
            format!("Send between 1 and {MAX_ITEMS} items."),
        ));
    }
    let idempotency_key = match call.header("idempotency-key")? {
        Some(k) if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(Error::bad_request(
                "Idempotency-Key must be 1 to 255 printable characters.",
            ));
        }
        k => k.map(str::to_owned),
    };
    let org_id = call.principal.org.clone();
    let org = app.org(&org_id).await?;
    let prefixes: Vec<String> = (0..body.fields.len())
        .map(|i| {
            if body.fields.len() == 1 {
                String::new()
            } else {
                format!("fields[{i}].")
            }
        })
        .collect();
    let (items, indexing): (Vec<Validated>, Indexing) = app
        .validate(&org_id, &key, |collection, errors| {
            let items = body
                .fields
                .iter()
                .zip(&prefixes)
                .map(|(v, p)| validate_full(&org, collection, v, p, errors))
                .collect();
            (items, Indexing::of(&org, collection))
        })
        .await?;

    for item in &items {
        call.allow_references(&item.refs)?;
    }
    let status = body.status.unwrap_or_default();
    let now = crate::clock::now();
    let records: Vec<ItemRecord> = items
        .iter()
        .map(|v| ItemRecord {
            out_refs: v.refs.iter().map(OutRef::encode).collect(),
            ..ItemRecord::new(&org_id, &key, status, &now, v.values.clone())
        })
        .collect();
    let response = bodies::Created {
        status: Pending::Pending,
        items: records
            .iter()
            .map(|r| CreatedItem {
                meta: IdVersion {
                    id: r.id,
                    version: 1,
                },
            })
            .collect(),
    };
    let stored = serde_json::to_string(&response).map_err(Error::internal)?;
    let idempotency = idempotency_key.map(|k| Idempotency {
        token_hash: call.principal.token_hash.clone(),
        key: k,
        request_hash: request_hash(&key, call.body()),
        response: stored,
        expires_at: now_epoch() + IDEMPOTENCY_TTL_SECS,
    });
    let refs: Vec<Vec<OutRef>> = items.into_iter().map(|v| v.refs).collect();
    let created = app
        .store
        .create_items(
            &records,
            &refs,
            &prefixes,
            CreateWith {
                request_id: &call.request_id,
                by: &call.author(),
                indexing: &indexing,
                idempotency: idempotency.as_ref(),
            },
        )
        .await?;
    if let Created::Replayed(stored) = created {
        // The first answer's very bytes.
        let mut response = json_text(202, stored);
        response.headers_mut().insert(
            "idempotent-replayed",
            http::HeaderValue::from_static("true"),
        );
        return Ok(response);
    }

    Ok(json_response(202, &response))
}

/// What makes two requests "the same" for an idempotency key.
fn request_hash(collection: &CollectionKey, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(collection.as_str().as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}
