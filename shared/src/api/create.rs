//! `POST /v2/content/` and `POST /v2/content/{collection_key}/`: create 1–25
//! items atomically, with an optional `Idempotency-Key`.

use std::collections::BTreeMap;
use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::{validate_full, ItemRecord, OutRef, Status, Validated};
use crate::error::{Error, FieldErrors};
use crate::events::{Event, EventType};
use crate::http::{json_response, serve, Call, Route};
use crate::ids::{CollectionKey, ItemId};
use crate::store::items::{missing_target_errors, now_epoch, too_large, IdempotencyPut};
use crate::store::{keys, WriteFailure};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    status: Option<Status>,
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
    let idempotency_key = match call.header("idempotency-key") {
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
    let validate = |collection: &crate::schema::Collection| {
        let mut errors = FieldErrors::new();
        let items: Vec<Validated> = body
            .fields
            .iter()
            .zip(&prefixes)
            .map(|(v, p)| validate_full(&org, collection, v, p, &mut errors))
            .collect();
        (items, errors)
    };
    let mut collection = app.collection(&org_id, &key, false).await?;
    let (mut items, mut errors) = validate(&collection);
    if !errors.is_empty() {
        // The cached schema may be stale: judge the request by the current one.
        collection = app.collection(&org_id, &key, true).await?;
        (items, errors) = validate(&collection);
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }

    let status = body.status.unwrap_or_default();
    let now = super::now();
    let partition = keys::collection_partition(&org_id, &key);
    let records: Vec<ItemRecord> = items
        .iter()
        .map(|v| {
            let id = ItemId::new();
            ItemRecord {
                pk: keys::item_pk(&org_id, &key, &id),
                sk: "ITEM".into(),
                org: org_id.clone(),
                collection: key.clone(),
                id,
                status,
                version: 1,
                created_at: now.clone(),
                updated_at: now.clone(),
                fields: v.values.clone(),
                live_pk: Some(partition.clone()),
                live_sk: Some(id.to_string()),
                deleted_at: None,
                trash_pk: None,
                trash_sk: None,
                expires_at: None,
                out_refs: v.refs.iter().map(OutRef::encode).collect(),
                restrict_by: BTreeMap::new(),
                detach_by: BTreeMap::new(),
            }
        })
        .collect();
    let response = json!({
        "status": "pending",
        "items": records.iter().map(|r| json!({"meta": {"id": r.id, "version": 1}})).collect::<Vec<_>>(),
    });
    let idempotency = idempotency_key.as_deref().map(|k| IdempotencyPut {
        key: keys::idempotency(&call.principal.token_hash, k),
        request_hash: request_hash(&key, call.body()),
        response: response.to_string(),
        expires_at: now_epoch() + IDEMPOTENCY_TTL_SECS,
        now_epoch: now_epoch(),
    });
    let refs: Vec<Vec<OutRef>> = items.into_iter().map(|v| v.refs).collect();

    let mut attempts = 0;
    loop {
        attempts += 1;
        match app
            .store
            .create_items(&records, &refs, &prefixes, idempotency.as_ref())
            .await
        {
            Ok(()) => break,
            Err(WriteFailure::Idempotent(stored)) => {
                let same = idempotency.as_ref().is_some_and(|i| {
                    stored.get("request_hash").and_then(|v| v.as_s().ok()) == Some(&i.request_hash)
                });
                if !same {
                    return Err(Error::Unprocessable(
                        "This Idempotency-Key was already used with a different request.".into(),
                    ));
                }
                let replay: Value = stored
                    .get("response")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| serde_json::from_str(s).ok())
                    .ok_or_else(|| Error::internal("idempotency record without a response"))?;
                return Ok(json_response(202, &replay));
            }
            Err(WriteFailure::MissingTargets(missing)) => {
                let mut errors = FieldErrors::new();
                for (item_refs, prefix) in refs.iter().zip(&prefixes) {
                    errors.extend(missing_target_errors(&missing, item_refs, prefix));
                }
                return Err(Error::Invalid(errors));
            }
            Err(WriteFailure::Conflict) if idempotency.is_some() => {
                return Err(Error::Conflict(
                    "A request with this Idempotency-Key is still in progress.".into(),
                ));
            }
            Err(WriteFailure::Conflict) if attempts < 3 => continue,
            Err(WriteFailure::Conflict) => {
                return Err(Error::Conflict(
                    "Referenced items are being changed by other requests; try again.".into(),
                ))
            }
            Err(WriteFailure::TooLarge) => return Err(too_large("")),
            Err(WriteFailure::Item(_)) => {
                return Err(Error::internal("a new item id already existed"))
            }
            Err(WriteFailure::Fault(e)) => return Err(e),
        }
    }

    let events: Vec<Event> = records
        .iter()
        .map(|r| Event::new(&org_id, &key, r.id, 1, EventType::for_write(None, status)))
        .collect();
    super::publish(app, &events).await;
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
