//! Webhook endpoints (admin tokens): register, read, list, delete, rotate
//! the secret, send a test ping, read the deliveries log, re-send a delivery.
//!
//! The secret is generated here, shown once (the 201 of a create, and the
//! answer to a rotation) and stored sealed (`webhooks::secret`). A URL is
//! accepted only if the address guard would let a delivery reach it: https
//! (http only while the allow-list is on, as in tests and `make dev`), and
//! no name that resolves to a private or special address. The test ping and
//! a manual retry are sent from the request itself, so the caller sees the
//! receiver's answer; event deliveries go through the deliveries queue.

use std::convert::Infallible;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::read::page_size;
use crate::app::App;
use crate::auth::{Operation, Principal, Scope};
use crate::error::Error;
use crate::http::{json_response, no_content, serve, Call, Route};
use crate::ids::WebhookId;
use crate::store::webhooks::{AttemptRecord, Registered};
use crate::store::writes::now_epoch;
use crate::webhooks::send;
use crate::webhooks::{seal_context, Secret, Webhook, WebhookSpec, ROTATION_OVERLAP};

mod sends;

use sends::{epoch_time, retry_delivery, send_test};

/// Every webhook route needs `admin` and the operation it does; a PUT's
/// (`create` or `update`, by what it finds) is checked in its handler.
const fn admin(pattern: &'static str, operation: Option<Operation>) -> Route {
    Route {
        pattern,
        scope: Scope::Admin,
        operation,
        query_token: false,
    }
}

const ONE: &str = "/v2/webhooks/{webhook_id}/";
pub const PUT: Route = admin(ONE, None);
pub const GET: Route = admin(ONE, Some(Operation::Read));
pub const LIST: Route = admin("/v2/webhooks/", Some(Operation::Read));
pub const DELETE: Route = admin(ONE, Some(Operation::Delete));
pub const ROTATE: Route = admin("/v2/webhooks/{webhook_id}/rotate/", Some(Operation::Update));
pub const TEST: Route = admin("/v2/webhooks/{webhook_id}/test/", Some(Operation::Update));
pub const DELIVERIES: Route = admin(
    "/v2/webhooks/{webhook_id}/deliveries/",
    Some(Operation::Read),
);
pub const RETRY: Route = admin(
    "/v2/webhooks/{webhook_id}/deliveries/{delivery_id}/retry/",
    Some(Operation::Update),
);

/// Attempts the deliveries log shows by default, and at most.
const DELIVERIES_PAGE: usize = 50;
const DELIVERIES_MAX: usize = 100;
/// Endpoints a page of `GET /v2/webhooks/` shows by default, and at most.
const LIST_PAGE: usize = 100;

/// An endpoint as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookBody {
    #[schema(value_type = String)]
    pub id: WebhookId,
    pub url: String,
    /// Event types, or `collectionitem.*`.
    pub events: Vec<String>,
    /// Only these collections' events; null for all.
    #[schema(value_type = Option<Vec<String>>)]
    pub collections: Option<Vec<crate::ids::CollectionKey>>,
    pub enabled: bool,
    /// Why Folio turned it off (a receiver's `410 Gone`), if it did.
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Webhook> for WebhookBody {
    fn from(hook: &Webhook) -> Self {
        WebhookBody {
            id: hook.id.clone(),
            url: hook.url.clone(),
            events: hook.events.clone(),
            collections: hook.collections.clone(),
            enabled: hook.enabled,
            disabled_reason: hook.disabled_reason.clone(),
            created_at: hook.created_at.clone(),
            updated_at: hook.updated_at.clone(),
        }
    }
}

/// A new endpoint, with its secret: the one time the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// `whsec_…`, shown this once.
    pub secret: String,
}

/// An endpoint after a rotation, with its new secret (shown this once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookRotated {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// `whsec_…`, shown this once.
    pub secret: String,
    /// Until when the secret before it signs too.
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: String,
}

/// A page of endpoints, by id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookPage {
    pub data: Vec<WebhookBody>,
    pub meta: WebhookPageMeta,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookPageMeta {
    /// Where the next page starts (`cursor`); null on the last.
    pub next_cursor: Option<String>,
}

/// The last attempts at an endpoint, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptPage {
    pub data: Vec<AttemptRecord>,
}

/// An attempt made now (a test ping, a re-send), and whether it delivered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptSent {
    #[serde(flatten)]
    pub attempt: AttemptRecord,
    pub delivered: bool,
}

/// What a token may do with endpoints, as with content: the operation
/// (register `create`, change, rotate, test and retry `update`, remove
/// `delete`, read `read`) and, for a token limited to some collections,
/// only endpoints whose `collections` filter lies within them. An endpoint
/// for every collection (`null`) would carry events of collections such a
/// token may not see, so it is out of its reach.
fn allow(principal: &Principal, op: Operation) -> Result<(), Error> {
    principal.require_on(Scope::Admin, Some(op), None, "webhooks")
}

/// A registration's collections must lie within a limited token's own,
/// checked before the spec is (which resolves the URL's host): a refused
/// token makes no lookup. Malformed keys are left to `webhooks::validate`.
fn within_reach(principal: &Principal, requested: Option<&[String]>) -> Result<(), Error> {
    if principal.record.collections.is_none() {
        return Ok(());
    }
    let Some(keys) = requested else {
        return Err(Error::Forbidden(
            "This token is limited to some collections: name them in \"collections\" \
             (an endpoint for every collection is out of its reach)."
                .into(),
        ));
    };
    let outside = keys
        .iter()
        .filter_map(|k| crate::ids::CollectionKey::parse(k).ok())
        .find(|k| !principal.allows_collection(k));
    match outside {
        Some(k) => Err(Error::Forbidden(format!(
            "This token is not allowed on collection \"{k}\"."
        ))),
        None => Ok(()),
    }
}

/// Whether `principal` may see an endpoint filtered to `collections`.
fn reaches(principal: &Principal, collections: Option<&[crate::ids::CollectionKey]>) -> bool {
    match (&principal.record.collections, collections) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(keys)) => keys.iter().all(|k| principal.allows_collection(k)),
    }
}

pub async fn put(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, PUT, |call| put_webhook(app, call)).await
}

pub async fn get(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, GET, |call| async move {
        let hook = find(app, &call, Operation::Read).await?;
        Ok(json_response(200, &WebhookBody::from(&hook)))
    })
    .await
}

pub async fn list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, LIST, |call| list_webhooks(app, call)).await
}

pub async fn delete(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, DELETE, |call| async move {
        call.no_body()?;
        let hook = find(app, &call, Operation::Delete).await?;
        if app.store.delete_webhook(&hook).await? {
            return Ok(no_content());
        }
        // Gone meanwhile (404), or changed since it was read (its filter
        // may have left this token's reach): the caller reads it again.
        find(app, &call, Operation::Delete).await?;
        Err(Error::Conflict(
            "The webhook changed while it was being deleted; try again.".into(),
        ))
    })
    .await
}

pub async fn rotate(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, ROTATE, |call| rotate_secret(app, call)).await
}

pub async fn test(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, TEST, |call| send_test(app, call)).await
}

pub async fn deliveries(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, DELIVERIES, |call| async move {
        let hook = find(app, &call, Operation::Read).await?;
        let limit = page_size(&call, DELIVERIES_PAGE, DELIVERIES_MAX)? as i32;
        let attempts = app.store.list_attempts(&hook, limit).await?;
        Ok(json_response(200, &AttemptPage { data: attempts }))
    })
    .await
}

pub async fn retry(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, RETRY, |call| retry_delivery(app, call)).await
}

/// The path's webhook id; a malformed one names no endpoint: 404.
fn webhook_id(call: &Call) -> Result<WebhookId, Error> {
    call.param("webhook_id")
        .and_then(|id| WebhookId::parse(id).ok())
        .ok_or(Error::NotFound)
}

/// The path's endpoint, for `op`: 403 without the operation, 404 when it
/// does not exist or lies outside the token's collections.
async fn find(app: &App, call: &Call, op: Operation) -> Result<Webhook, Error> {
    allow(&call.principal, op)?;
    let id = webhook_id(call)?;
    app.store
        .get_webhook(&call.principal.org, &id)
        .await?
        .filter(|hook| reaches(&call.principal, hook.collections.as_deref()))
        .ok_or(Error::NotFound)
}

/// One page of the endpoints this token reaches, by id; `meta.next_cursor`
/// continues after the last one shown.
async fn list_webhooks(app: &App, call: Call) -> Result<Response<Body>, Error> {
    allow(&call.principal, Operation::Read)?;
    let want = page_size(&call, LIST_PAGE, LIST_PAGE)?;
    let mut after = call.query("cursor").map(decode_cursor).transpose()?;
    let mut shown: Vec<Webhook> = Vec::new();
    // Endpoints out of the token's reach are skipped. Each Query reads a
    // full page and one more, so one Query tells whether another page
    // follows, and skipping costs few; the cursor is the last one shown.
    loop {
        let (page, next) = app
            .store
            .webhooks_page(&call.principal.org, after.as_ref(), LIST_PAGE as i32 + 1)
            .await?;
        shown.extend(
            page.into_iter()
                .filter(|h| reaches(&call.principal, h.collections.as_deref())),
        );
        match next {
            Some(next) if shown.len() <= want => after = Some(next),
            _ => break,
        }
    }
    let next_cursor = (shown.len() > want).then(|| {
        shown.truncate(want);
        encode_cursor(&shown[want - 1].id)
    });
    Ok(json_response(
        200,
        &WebhookPage {
            data: shown.iter().map(WebhookBody::from).collect(),
            meta: WebhookPageMeta { next_cursor },
        },
    ))
}

/// A list cursor: the id of the last endpoint shown.
fn encode_cursor(id: &WebhookId) -> String {
    URL_SAFE_NO_PAD.encode(format!("w1:{id}"))
}

fn decode_cursor(s: &str) -> Result<WebhookId, Error> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|raw| {
            raw.strip_prefix("w1:")
                .and_then(|id| WebhookId::parse(id).ok())
        })
        .ok_or_else(|| {
            Error::field(
                "cursor",
                "Not a cursor this API issued; use meta.next_cursor as it is.",
            )
        })
}

async fn put_webhook(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let id = webhook_id(&call)?;
    let principal = &call.principal;
    // A token that may neither create nor update gets its 403 whatever
    // the body holds.
    if allow(principal, Operation::Create).is_err() && allow(principal, Operation::Update).is_err()
    {
        return Err(Error::Forbidden(
            "This token may not create or update webhooks (it lacks the \"create\" and \"update\" operations)."
                .into(),
        ));
    }
    let spec: WebhookSpec = call.json()?;
    within_reach(principal, spec.collections.as_deref())?;
    let sender = app.webhook_sender()?;
    let collections = send::validate(&spec, sender.guard()).await?;
    let collections = spec.collections.as_ref().map(|_| collections);
    let org = principal.org.clone();
    let now = crate::clock::now();
    let mut events: Vec<String> = Vec::new();
    for e in spec.events {
        if !events.contains(&e) {
            events.push(e);
        }
    }
    let secret = Secret::generate();
    let hook = Webhook {
        secret: sender.key().seal(&secret, &seal_context(&org, &id)),
        org,
        id,
        url: spec.url,
        events,
        collections,
        enabled: spec.enabled,
        disabled_reason: None,
        previous_secret: None,
        previous_until: None,
        log_id: ulid::Ulid::new().to_string().to_lowercase(),
        created_at: now.clone(),
        updated_at: now,
    };
    let may_create = allow(principal, Operation::Create);
    if may_create.is_ok() {
        let cap = app.config.webhooks_per_org;
        match app.store.create_webhook(&hook, cap).await? {
            Registered::Created => {
                let body = WebhookCreated {
                    webhook: WebhookBody::from(&hook),
                    secret: secret.expose().to_owned(),
                };
                return Ok(json_response(201, &body));
            }
            Registered::Full => {
                return Err(Error::Conflict(format!(
                    "This organization has {cap} webhook endpoints, as many as it may \
                     (FOLIO_WEBHOOKS_PER_ORG); delete one first."
                )))
            }
            Registered::Exists => {}
        }
    }
    // A change: the endpoint as it stands must be in this token's reach.
    // Where there is none, a token that may not create is told that.
    let current = match find(app, &call, Operation::Update).await {
        Err(Error::NotFound) => return Err(may_create.err().unwrap_or(Error::NotFound)),
        found => found?,
    };
    match app.store.update_webhook(&hook, &current).await? {
        Some(updated) => Ok(json_response(200, &WebhookBody::from(&updated))),
        // Deleted or changed between the read and the write: the caller
        // may simply try again.
        None => Err(Error::Conflict(
            "The webhook changed while it was being changed; try again.".into(),
        )),
    }
}

async fn rotate_secret(app: &App, call: Call) -> Result<Response<Body>, Error> {
    call.no_body()?;
    let hook = find(app, &call, Operation::Update).await?;
    // One previous secret at a time (decided over keeping several): a
    // second rotation inside the overlap would stop a secret receivers may
    // still verify with, so it waits until that secret has expired.
    if let Some(until) = hook.previous_until.filter(|&t| t > now_epoch()) {
        return Err(Error::Conflict(format!(
            "The secret before the last rotation still signs until {}; rotate again after that.",
            epoch_time(until)?
        )));
    }
    let sender = app.webhook_sender()?;
    let secret = Secret::generate();
    // Whole seconds, as stored, so every answer names the same instant.
    let until = now_epoch() + ROTATION_OVERLAP.as_secs() as i64;
    let rotated = app
        .store
        .rotate_webhook_secret(
            &hook,
            sender.key().seal(&secret, &hook.seal_context()),
            until,
        )
        .await?
        .ok_or_else(|| {
            Error::Conflict("The webhook changed while its secret was rotated; try again.".into())
        })?;
    let body = WebhookRotated {
        webhook: WebhookBody::from(&rotated),
        secret: secret.expose().to_owned(),
        previous_secret_expires_at: epoch_time(until)?,
    };
    Ok(json_response(200, &body))
}
