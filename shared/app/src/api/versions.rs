//! An item's versions (`content::history`): every write keeps the item as
//! it stands after it as a numbered version (`store::versions`), and these
//! endpoints list them newest first, read one in an item read's shape,
//! compare two, and revert to one. History is never rewritten: a revert is
//! a new version, a replace of the item's newest content with the old
//! version's values, checked against today's schema and references.
//!
//! - `GET …/{item_id}/versions/` (`read`): a page, newest first;
//! - `GET …/versions/{version}/` (`read`): that version rendered;
//! - `GET …/versions/{version}/compare/{other}/` (`read`): what differs;
//! - `POST …/versions/{version}/revert/` (`write`, `update`).
//!
//! Each needs the item to be live: a deleted item's versions wait in the
//! trash with it (404 until it is restored).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::Value;

use super::bodies::{
    IdVersion, Pending, Reverted, VersionComparison, VersionEntry, VersionList, VersionListMeta,
};
use super::read::{locale_param, page_size};
use super::update::{if_match, write_whole, Whole};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::{
    compare, drop_reference, revert_input, validate_full, ItemRecord, OutRef, State, Status,
    Validated, Version, View,
};
use crate::error::Error;
use crate::http::{json_response, serve, with_etag, Call, Route};
use crate::ids::{CollectionKey, ItemId, OrgId};
use crate::reads::cursor::{versions_before, versions_cursor};
use crate::reads::expand::{Expander, ReadView};
use crate::schema::{Collection, OnDelete, Org};
use crate::store::entries::Indexing;
use crate::store::{now_epoch, Target};

pub const LIST: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/versions/",
    scope: Scope::Read,
    operation: Some(Operation::Read),
    query_token: true,
};
pub const GET: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/versions/{version}/",
    ..LIST
};
pub const COMPARE: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/versions/{version}/compare/{other}/",
    ..LIST
};
pub const REVERT: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/versions/{version}/revert/",
    scope: Scope::Write,
    operation: Some(Operation::Update),
    query_token: false,
};

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

/// A revert's optional body: the state its new version asks for.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "published"}))]
pub(crate) struct RevertBody {
    /// `draft` (the default: a draft over a live version, which stays
    /// live) or `published`.
    #[serde(default)]
    status: Option<Status>,
}

pub async fn list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, LIST, |call| async move {
        let (key, id) = (call.collection_key()?, call.item_id()?);
        let take = page_size(&call, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let before = call.query("cursor").map(versions_before).transpose()?;
        let org = &call.principal.org;
        live_item(app, org, &key, &id).await?;
        let page = app.store.versions(org, &key, &id, before, take).await?;
        let next_cursor = page
            .versions
            .last()
            .filter(|_| page.more)
            .map(|v| versions_cursor(v.version));
        let body = VersionList {
            data: page.versions.into_iter().map(VersionEntry::from).collect(),
            meta: VersionListMeta { next_cursor },
        };
        Ok(json_response(200, &body))
    })
    .await
}

/// One version as an item read shows an item (`content::render`, with the
/// collection's current schema): `meta.version` is the version, `status`
/// the item's state after that write; references render as their links.
pub async fn get(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, GET, |call| async move {
        let (key, id) = (call.collection_key()?, call.item_id()?);
        let number = version_param(&call, "version")?;
        let org = app.org(&call.principal.org).await?;
        let read = ReadView {
            view: View {
                locale: locale_param(&call, &org)?,
                preview: false,
            },
            // Links only: a version shows what it referenced, as it was.
            levels: 1,
        };
        let item = live_item(app, &org.id, &key, &id).await?;
        let version = kept(app, &item, number).await?;
        let collection = app.collection_for(&org.id, &key, &item.updated_at).await?;
        let expander = Expander::load(app, &org, &call.principal, &read, &collection, &[]).await?;
        let mut body = expander.linked(&collection, &version.as_item(&item));
        // Which version was live beside a draft then is not kept.
        if version.status == State::PublishedWithDraft {
            body.meta.published_version = None;
        }
        Ok(json_response(200, &body))
    })
    .await
}

pub async fn compared(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, COMPARE, |call| async move {
        let (key, id) = (call.collection_key()?, call.item_id()?);
        let (from, to) = (
            version_param(&call, "version")?,
            version_param(&call, "other")?,
        );
        let item = live_item(app, &call.principal.org, &key, &id).await?;
        let from = kept(app, &item, from).await?;
        let to = kept(app, &item, to).await?;
        let body = VersionComparison {
            data: compare(&from.fields, &to.fields),
        };
        Ok(json_response(200, &body))
    })
    .await
}

pub async fn revert(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, REVERT, |call| revert_to(app, call)).await
}

/// The path's version number: anything but a positive whole number names
/// no version (404).
fn version_param(call: &Call, name: &str) -> Result<u64, Error> {
    call.param(name)
        .and_then(crate::ids::Version::parse_number)
        .ok_or(Error::NotFound)
}

/// The item, if its collection is defined and it is live (not deleted).
pub(crate) async fn live_item(
    app: &App,
    org: &OrgId,
    key: &CollectionKey,
    id: &ItemId,
) -> Result<ItemRecord, Error> {
    app.collection(org, key, false).await?;
    app.store
        .get_item(org, key, id)
        .await?
        .filter(|i| i.is_live(now_epoch()))
        .ok_or(Error::NotFound)
}

/// A version of `item`, with its content.
async fn kept(app: &App, item: &ItemRecord, number: u64) -> Result<Version, Error> {
    app.store
        .version(&item.org, &item.collection, &item.id, number)
        .await?
        .ok_or(Error::NotFound)
}

async fn revert_to(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let (key, id) = (call.collection_key()?, call.item_id()?);
    let number = version_param(&call, "version")?;
    let expected = if_match(&call)?;
    let body: RevertBody = if call.body().iter().all(u8::is_ascii_whitespace) {
        RevertBody::default()
    } else {
        call.json()?
    };
    let org = app.org(&call.principal.org).await?;
    let item = live_item(app, &org.id, &key, &id).await?;
    // Before any other refusal: the client decided on another version.
    if let Some(expected) = expected.filter(|e| *e != item.version) {
        return Err(Error::VersionMismatch {
            expected,
            current: item.version,
        });
    }
    let version = kept(app, &item, number).await?;
    let (validated, dropped, indexing) = revertible(app, &org, &key, &version).await?;
    let whole = Whole {
        key: &key,
        id,
        expected,
        status: Some(body.status.unwrap_or(Status::Draft)),
        validated: &validated,
        indexing: &indexing,
    };
    let written = write_whole(app, &call, whole, true).await?;
    let body = Reverted {
        status: Pending::Pending,
        meta: IdVersion {
            id,
            version: written.version,
        },
        dropped: dropped.into_iter().collect(),
    };
    Ok(with_etag(json_response(202, &body), written.version))
}

/// A version's values as a revert writes them today: what the schema no
/// longer has left out, the rest checked as a PUT checks its body, and
/// every reference's target looked up. A `restrict` reference to an item
/// gone since refuses the revert (409 naming it); a `detach` one is left
/// out, as the worker would have removed it. Returns the values, the
/// keys of what was left out, and the collection's indexing.
async fn revertible(
    app: &App,
    org: &Org,
    key: &CollectionKey,
    version: &Version,
) -> Result<(Validated, BTreeSet<String>, Indexing), Error> {
    let mut fields = version.fields.clone();
    let (validated, mut dropped, indexing) = checked(app, org, key, &fields).await?;
    let gone = gone_targets(app, &org.id, &validated.refs).await?;
    let restricted: Vec<String> = gone
        .iter()
        .filter(|r| r.on_delete == OnDelete::Restrict)
        .map(|r| format!("{}/{} (field \"{}\")", r.collection, r.id, r.field))
        .collect();
    if !restricted.is_empty() {
        return Err(Error::Conflict(format!(
            "Version {} references {}, which no longer exists; restore it first or revert to another version.",
            version.version,
            restricted.join(", ")
        )));
    }
    if gone.is_empty() {
        return Ok((validated, dropped, indexing));
    }
    // Without the detach references to items gone since, the values are
    // checked again (a required field may be left empty).
    for r in &gone {
        drop_reference(&mut fields, r);
        dropped.insert(r.field.rsplit('.').next().unwrap_or_default().to_owned());
    }
    let (validated, more, indexing) = checked(app, org, key, &fields).await?;
    dropped.extend(more);
    Ok((validated, dropped, indexing))
}

/// Stored values (by storage key) checked against the collection's
/// schema as the body of a PUT (`content::revert_input`): the values and
/// references to write, what was left out, and the collection's indexing.
async fn checked(
    app: &App,
    org: &Org,
    key: &CollectionKey,
    fields: &BTreeMap<String, Value>,
) -> Result<(Validated, BTreeSet<String>, Indexing), Error> {
    app.validate(&org.id, key, |collection: &Collection, errors| {
        let input = revert_input(org, collection, fields);
        let validated = validate_full(org, collection, &input.input, "", errors);
        (validated, input.dropped, Indexing::of(org, collection))
    })
    .await
}

/// The references in `refs` whose targets are missing or deleted.
async fn gone_targets(app: &App, org: &OrgId, refs: &[OutRef]) -> Result<Vec<OutRef>, Error> {
    let targets: Vec<Target> = refs
        .iter()
        .map(|r| (r.collection.clone(), r.id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let found = app.store.get_items(org, &targets).await?;
    let now = now_epoch();
    Ok(refs
        .iter()
        .filter(|r| {
            found
                .get(&(r.collection.clone(), r.id))
                .is_none_or(|i| !i.is_live(now))
        })
        .cloned()
        .collect())
}
