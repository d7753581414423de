//! `GET /v2/content/{collection_key}/{item_id}/`,
//! `GET /v2/content/{collection_key}/` and `GET /v2/content/?keys=…`
//! (ButterCMS's read of one or more collections): reads of live items, with drafts
//! only in preview, locales, filters, ordering, paging and reference
//! expansion to `levels` deep.

use std::collections::BTreeMap;
use std::convert::Infallible;

use lambda_http::{Body, Request, Response};

use super::bodies::{ItemList, KeysRead};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::{Rendered, View};
use crate::error::Error;
use crate::http::{json_response, serve, with_etag, with_read_etag, Call, Route};
use crate::ids::{CollectionKey, ItemId, Locale};
use crate::reads::expand::{viewed, Expander, ReadView};
use crate::reads::{self, ListMeta, ListQuery};
use crate::schema::{Collection, Org};

pub const GET: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/",
    scope: Scope::Read,
    operation: Some(Operation::Read),
    query_token: true,
};
pub const LIST: Route = Route {
    pattern: "/v2/content/{collection_key}/",
    scope: Scope::Read,
    operation: Some(Operation::Read),
    query_token: true,
};

pub const KEYS: Route = Route {
    pattern: "/v2/content/",
    scope: Scope::Read,
    operation: Some(Operation::Read),
    query_token: true,
};

pub const DEFAULT_PAGE_SIZE: usize = 10;
pub const MAX_PAGE_SIZE: usize = 100;
/// Pages past this are refused rather than computed: page arithmetic
/// then never nears an overflow.
pub const MAX_PAGE: usize = 1_000_000;
pub const DEFAULT_LEVELS: u8 = 2;
pub const MAX_LEVELS: u8 = 5;

fn read_options(call: &Call, org: &Org) -> Result<ReadView, Error> {
    let preview = match call.query("preview") {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => return Err(Error::field("preview", "Use preview=1 or preview=0.")),
    };
    let locale = locale_param(call, org)?;
    let levels = match call.query("levels") {
        None => DEFAULT_LEVELS,
        Some(v) => v
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LEVELS).contains(l))
            .ok_or_else(|| Error::field("levels", "Must be a whole number from 1 to 5."))?,
    };
    Ok(ReadView {
        view: View { locale, preview },
        levels,
    })
}

/// `?locale=`: one of the organization's locales.
pub(crate) fn locale_param(call: &Call, org: &Org) -> Result<Option<Locale>, Error> {
    call.query("locale")
        .map(|l| {
            Locale::parse(l)
                .ok()
                .filter(|l| org.locales.contains(l))
                .ok_or_else(|| Error::field("locale", "Unknown locale for this organization."))
        })
        .transpose()
}

pub async fn get(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, GET, |call| async move {
        let key = call.collection_key()?;
        let id = call.item_id()?;
        let org = app.org(&call.principal.org).await?;
        let opts = read_options(&call, &org)?;
        // The collection must exist before the item is looked for (404 either way).
        app.collection(&org.id, &key, false).await?;
        let item = app
            .store
            .get_item(&org.id, &key, &id)
            .await?
            .and_then(|i| viewed(i, opts.view.preview))
            .ok_or(Error::NotFound)?;
        let collection = app.collection_for(&org.id, &key, &item.updated_at).await?;
        let mut expander =
            Expander::load(app, &org, &call.principal, &opts, &collection, &[&item]).await?;
        let body = expander.render(&collection, &item);
        let response = json_response(200, &body);
        // The version alone names this body when nothing else shows in it:
        // no expanded references, no preview media status, and a schema
        // (read after the item's write: `collection_for`) no newer than the
        // item, so every instance renders this version alike. The contract's
        // `ETag: "<version>"`. Otherwise `"<version>-<digest>"`.
        if item.out_refs.is_empty()
            && !opts.view.preview
            && collection.updated_at <= item.updated_at
        {
            return Ok(with_etag(response, item.version));
        }
        Ok(with_read_etag(response, item.version))
    })
    .await
}

pub async fn list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, LIST, |call| list_items(app, call)).await
}

async fn list_items(app: &App, call: Call) -> Result<Response<Body>, Error> {
    // ButterCMS's JavaScript client puts the keys in the path:
    // `/v2/content/a,b/` and `/v2/content/a[_id=<id>]/` read as `?keys=` does.
    if let Some(raw) = call
        .param("collection_key")
        .filter(|k| k.contains([',', '[']))
    {
        let raw = raw.to_owned();
        return read_keys(app, &call, &raw).await;
    }
    let key = call.collection_key()?;
    let org = app.org(&call.principal.org).await?;
    let opts = read_options(&call, &org)?;
    let mut memory = app.config.memory_list_max;
    let (meta, items) = list_page(app, &call, &org, &opts, &key, &mut memory).await?;
    let data = BTreeMap::from([(key.to_string(), items)]);
    Ok(json_response(200, &ItemList { meta, data }))
}

/// `page` (from 1) and `page_size` (1–100) as the query gives them.
pub(crate) fn paging(call: &Call, default_size: usize) -> Result<(usize, usize), Error> {
    let page: usize = match call.query("page") {
        None => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or_else(|| Error::field("page", "Must be a whole number from 1 to 1000000."))?,
    };
    let page_size: usize = match call.query("page_size") {
        None => default_size,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| (1..=MAX_PAGE_SIZE).contains(p))
            .ok_or_else(|| Error::field("page_size", "Must be a whole number from 1 to 100."))?,
    };
    Ok((page, page_size))
}

/// `?page_size=`: `default` when absent, 1 to `max` when given.
pub(crate) fn page_size(call: &Call, default: usize, max: usize) -> Result<usize, Error> {
    match call.query("page_size") {
        None => Ok(default),
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Error::field("page_size", format!("A whole number from 1 to {max}."))),
    }
}

/// An RFC 3339 time parameter, in the stored form (which sorts as time).
pub(crate) fn time_param(call: &Call, name: &str) -> Result<Option<String>, Error> {
    call.query(name)
        .map(|t| {
            crate::clock::parse_time(t).ok_or_else(|| Error::field(name, "Use an RFC 3339 time."))
        })
        .transpose()
}

/// A listing's query, checked against its collection.
fn list_query(call: &Call, collection: &Collection) -> Result<ListQuery, Error> {
    let (page, page_size) = paging(call, DEFAULT_PAGE_SIZE)?;
    let updated_after = time_param(call, "updated_after")?;
    let mut filters = Vec::new();
    for (name, want) in call.query_pairs() {
        if let Some(field) = name.strip_prefix("fields.") {
            if collection.field(field).is_none() {
                return Err(Error::field(name, "Unknown field."));
            }
            filters.push((field.to_owned(), want.to_owned()));
        }
    }
    let order = match call.query("order") {
        None => None,
        Some(o) => {
            let (desc, name) = o.strip_prefix('-').map_or((false, o), |n| (true, n));
            if collection.field(name).is_none()
                && !matches!(name, "created_at" | "updated_at" | "id")
            {
                return Err(Error::field(
                    "order",
                    "Order by a field of the collection, created_at, updated_at or id.",
                ));
            }
            Some((name.to_owned(), desc))
        }
    };
    Ok(ListQuery {
        page,
        page_given: call.query("page").is_some(),
        page_size,
        cursor: call.query("cursor").map(str::to_owned),
        updated_after,
        filters,
        order,
    })
}

/// One page of a collection's list, as the query asks: its `meta` (Butter's
/// `count`, `next_page`, `previous_page`, and `next_cursor`) and its items.
/// `memory` is what is left of the request's in-memory budget.
async fn list_page(
    app: &App,
    call: &Call,
    org: &Org,
    opts: &ReadView,
    key: &CollectionKey,
    memory: &mut usize,
) -> Result<(ListMeta, Vec<Rendered>), Error> {
    let collection = app.collection(&org.id, key, false).await?;
    let query = list_query(call, &collection)?;
    reads::list_page(app, &call.principal, org, opts, &collection, &query, memory).await
}

/// `GET /v2/content/?keys=a,b` (ButterCMS's read of several collections):
/// `{"data": {"a": [...], "b": [...]}}`, each list a page as `page`,
/// `page_size`, `order`, `fields.<name>`, `locale`, `preview` and `levels`
/// say; with one key the list's `meta` too, exactly as
/// `GET /v2/content/a/`. `a[_id=<id>]` names one item (`[]` when there is
/// none to show): the links that `levels` renders resolve here.
pub async fn keys(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, KEYS, |call| async move {
        let raw = call
            .query("keys")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::field(
                    "keys",
                    "Name one or more collections: keys=a,b or keys=a[_id=<id>].",
                )
            })?
            .to_owned();
        read_keys(app, &call, &raw).await
    })
    .await
}

/// Collections one `keys` read may name.
pub const MAX_KEYS: usize = 10;
/// A `keys` read's body stops short of Lambda's 6 MB response limit.
const MAX_KEYS_BODY: usize = 5 * 1024 * 1024;

async fn read_keys(app: &App, call: &Call, raw: &str) -> Result<Response<Body>, Error> {
    let mut wanted: Vec<(CollectionKey, Option<ItemId>)> = Vec::new();
    for part in raw.split(',') {
        let (name, id) = match part.split_once('[') {
            None => (part, None),
            Some((name, rest)) => {
                let id = rest
                    .strip_suffix(']')
                    .and_then(|f| f.strip_prefix("_id="))
                    .ok_or_else(|| {
                        Error::field("keys", "Only [_id=<id>] may follow a collection key.")
                    })?;
                (
                    name,
                    Some(ItemId::parse(id).map_err(|e| Error::field("keys", &e.0))?),
                )
            }
        };
        let key = CollectionKey::parse(name).map_err(|e| Error::field("keys", &e.0))?;
        call.allow(&key)?;
        if wanted.iter().any(|(k, _)| *k == key) {
            return Err(Error::field("keys", "Name each collection once."));
        }
        wanted.push((key, id));
    }
    if wanted.len() > MAX_KEYS {
        return Err(Error::field(
            "keys",
            format!("At most {MAX_KEYS} collections at once."),
        ));
    }
    if wanted.len() > 1 && call.query("cursor").is_some() {
        return Err(Error::field(
            "cursor",
            "A cursor continues one collection's list; name one key.",
        ));
    }
    let org = app.org(&call.principal.org).await?;
    let opts = read_options(call, &org)?;
    let mut data = BTreeMap::new();
    let mut meta = None;
    // One budget for every list the request names (`memory_page`).
    let mut memory = app.config.memory_list_max;
    // The version of the item a read of one `key[_id=…]` shows.
    let mut shown = None;
    for (key, id) in &wanted {
        let items = match id {
            Some(id) => {
                let collection = app.collection(&org.id, key, false).await?;
                match app
                    .store
                    .get_item(&org.id, key, id)
                    .await?
                    .and_then(|i| viewed(i, opts.view.preview))
                {
                    Some(item) => {
                        shown = Some(item.version);
                        let mut expander = Expander::load(
                            app,
                            &org,
                            &call.principal,
                            &opts,
                            &collection,
                            &[&item],
                        )
                        .await?;
                        vec![expander.render(&collection, &item)]
                    }
                    None => Vec::new(),
                }
            }
            None => {
                let (m, items) = list_page(app, call, &org, &opts, key, &mut memory).await?;
                meta = Some(m);
                items
            }
        };
        data.insert(key.to_string(), items);
    }
    let body = KeysRead {
        data,
        meta: meta.filter(|_| wanted.len() == 1),
    };
    if serde_json::to_vec(&body).map_or(0, |b| b.len()) > MAX_KEYS_BODY {
        return Err(Error::field(
            "keys",
            "The response would be larger than 5 MB; name fewer collections or ask for a smaller page_size or fewer levels.",
        ));
    }
    let response = json_response(200, &body);
    // One item's read is tagged as `GET …/{item_id}/` tags it, so that its
    // tag serves as `If-Match` for a write of the item too.
    Ok(match (wanted.len(), shown) {
        (1, Some(version)) => with_read_etag(response, version),
        _ => response,
    })
}
