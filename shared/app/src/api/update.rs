//! `PUT` (replace) and `PATCH` (partial update) of
//! `/v2/content/{collection_key}/{item_id}/`, and `POST …/unpublish/`, all
//! honouring `If-Match` (the newest version's: a draft's when there is one).
//! A write's `status` moves the item's state (`content::state`): `draft`
//! saves a draft and leaves a published version live, `published`
//! publishes, none keeps the state; only unpublish takes an item off the
//! live site.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::bodies::{self, IdVersion, Pending};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::{validate_full, validate_patch, OutRef, Status, Validated};
use crate::error::Error;
use crate::http::{json_response, serve, with_etag, Call, Route};
use crate::ids::{CollectionKey, ItemId, Version};
use crate::store::entries::Indexing;
use crate::store::{ItemWrite, Written};

pub const REPLACE: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/",
    scope: Scope::Write,
    operation: Some(Operation::Update),
    query_token: false,
};
pub const PATCH: Route = REPLACE;
pub const UNPUBLISH: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/unpublish/",
    ..REPLACE
};

/// Every field of the item (omitted optional ones are cleared).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "published",
    "fields": {"name": "Grace", "role": "designer", "age": 40}}))]
pub(crate) struct ReplaceBody {
    #[serde(default)]
    status: Option<Status>,
    #[schema(value_type = Object)]
    fields: Value,
}

/// Only what changes: the status, some fields, or both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"fields": {"age": 37}}))]
pub(crate) struct PatchBody {
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    fields: Option<Value>,
}

pub async fn replace(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, REPLACE, |call| replace_item(app, call)).await
}

pub async fn patch(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, PATCH, |call| patch_item(app, call)).await
}

pub async fn unpublish(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, UNPUBLISH, |call| unpublish_item(app, call)).await
}

pub(crate) fn if_match(call: &Call) -> Result<Option<u64>, Error> {
    match call.header("if-match")? {
        None => Ok(None),
        Some(v) => Version::from_if_match(v)
            .map(|v| Some(v.0))
            .ok_or_else(|| Error::bad_request("If-Match must be an item version such as \"3\".")),
    }
}

fn no_self_reference(id: ItemId, collection: &CollectionKey, refs: &[OutRef]) -> Result<(), Error> {
    match refs
        .iter()
        .find(|r| r.id == id && r.collection == *collection)
    {
        Some(r) => Err(Error::field(
            r.field.clone(),
            "An item cannot reference itself.",
        )),
        None => Ok(()),
    }
}

async fn replace_item(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let key = call.collection_key()?;
    let id = call.item_id()?;
    let expected = if_match(&call)?;
    let body: ReplaceBody = call.json()?;
    let org = app.org(&call.principal.org).await?;
    let (validated, indexing) = app
        .validate(&org.id, &key, |collection, errors| {
            (
                validate_full(&org, collection, &body.fields, "", errors),
                Indexing::of(&org, collection),
            )
        })
        .await?;
    let whole = Whole {
        key: &key,
        id,
        expected,
        status: body.status,
        validated: &validated,
        indexing: &indexing,
    };
    let written = write_whole(app, &call, whole, false).await?;
    finish(id, written)
}

/// Every field of an item's newest content, checked against its schema:
/// a PUT's body, or a revert's version.
pub(crate) struct Whole<'a> {
    pub key: &'a CollectionKey,
    pub id: ItemId,
    /// `If-Match`.
    pub expected: Option<u64>,
    pub status: Option<Status>,
    pub validated: &'a Validated,
    pub indexing: &'a Indexing,
}

/// Writes `whole` as the item's newest content (`revert`: as a revert of
/// the version it came from), once its references are ones the token may
/// make and none is to the item itself.
pub(crate) async fn write_whole(
    app: &App,
    call: &Call,
    whole: Whole<'_>,
    revert: bool,
) -> Result<Written, Error> {
    let Whole {
        key, id, validated, ..
    } = whole;
    call.allow_references(&validated.refs)?;
    no_self_reference(id, key, &validated.refs)?;
    let now = crate::clock::now();
    let by = call.author();
    let w = ItemWrite {
        org: &call.principal.org,
        collection: key,
        id,
        now: &now,
        expected: whole.expected,
        request_id: &call.request_id,
        indexing: whole.indexing,
        by: &by,
    };
    let (values, refs) = (&validated.values, &validated.refs);
    if revert {
        app.store.revert_item(&w, whole.status, values, refs).await
    } else {
        app.store.replace_item(&w, whole.status, values, refs).await
    }
}

async fn patch_item(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let key = call.collection_key()?;
    let id = call.item_id()?;
    let expected = if_match(&call)?;
    let body: PatchBody = call.json()?;
    if body.status.is_none() && body.fields.is_none() {
        return Err(Error::bad_request("Send \"status\", \"fields\" or both."));
    }
    let org = app.org(&call.principal.org).await?;
    let fields = body.fields.unwrap_or_else(|| json!({}));
    let (patch, indexing) = app
        .validate(&org.id, &key, |collection, errors| {
            (
                validate_patch(&org, collection, &fields, errors),
                Indexing::of(&org, collection),
            )
        })
        .await?;
    let all_refs: Vec<OutRef> = patch.refs.values().flatten().cloned().collect();
    call.allow_references(&all_refs)?;
    no_self_reference(id, &key, &all_refs)?;
    let now = crate::clock::now();
    let by = call.author();
    let w = ItemWrite {
        org: &org.id,
        collection: &key,
        id,
        now: &now,
        expected,
        request_id: &call.request_id,
        indexing: &indexing,
        by: &by,
    };
    let written = app
        .store
        .patch_item(&w, body.status, &patch.changes, &patch.refs)
        .await?;
    finish(id, written)
}

/// Takes the item off the live site; its newest content stays as a draft.
async fn unpublish_item(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let key = call.collection_key()?;
    let id = call.item_id()?;
    call.no_body()?;
    let expected = if_match(&call)?;
    let org = &call.principal.org;
    let indexing = app.indexing(org, &key).await?;
    let now = crate::clock::now();
    let by = call.author();
    let w = ItemWrite {
        org,
        collection: &key,
        id,
        now: &now,
        expected,
        request_id: &call.request_id,
        indexing: &indexing,
        by: &by,
    };
    let written = app.store.unpublish(&w).await?;
    finish(id, written)
}

/// The response of an accepted PUT, PATCH or unpublish; a write that changed nothing
/// keeps its version (and, not moving it, makes no event).
fn finish(id: ItemId, written: Written) -> Result<Response<Body>, Error> {
    let body = bodies::Written {
        status: Pending::Pending,
        meta: IdVersion {
            id,
            version: written.version,
        },
    };
    Ok(with_etag(json_response(202, &body), written.version))
}
