//! `GET /v2/content/{collection_key}/{item_id}/`,
//! `GET /v2/content/{collection_key}/` and `GET /v2/content/?keys=…`
//! (ButterCMS's read of one or more collections): reads of live items, with drafts
//! only in preview, locales, filters, ordering, paging and reference
//! expansion to `levels` deep.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};

use super::cursor::Cursor;
use super::expand::{visible, Expander, ReadView};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::content::order::{self, compare, matches, Filter};
use crate::content::{field_value, ItemRecord, View};
use crate::error::Error;
use crate::http::{json_response, serve, with_etag, with_read_etag, Call, Route};
use crate::ids::{CollectionKey, ItemId, Locale};
use crate::schema::{Collection, Org};
use crate::store::pages::{PageQuery, Sorted};

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

fn bad(param: &str, msg: &str) -> Error {
    Error::field(param, msg)
}

fn read_options(call: &Call, org: &Org) -> Result<ReadView, Error> {
    let preview = match call.query("preview") {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(_) => return Err(bad("preview", "Use preview=1 or preview=0.")),
    };
    let locale = match call.query("locale") {
        None => None,
        Some(l) => {
            let locale = Locale::parse(l).ok().filter(|l| org.locales.contains(l));
            Some(locale.ok_or_else(|| bad("locale", "Unknown locale for this organization."))?)
        }
    };
    let levels = match call.query("levels") {
        None => DEFAULT_LEVELS,
        Some(v) => v
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LEVELS).contains(l))
            .ok_or_else(|| bad("levels", "Must be a whole number from 1 to 5."))?,
    };
    Ok(ReadView {
        view: View { locale, preview },
        levels,
    })
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
            .filter(|i| visible(i, opts.view.preview))
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
    let (meta, data) = list_page(app, &call, &org, &opts, &key, &mut memory).await?;
    Ok(json_response(
        200,
        &json!({"meta": meta, "data": {key.as_str(): data}}),
    ))
}

/// `page` (from 1) and `page_size` (1–100) as the query gives them.
pub(crate) fn paging(call: &Call, default_size: usize) -> Result<(usize, usize), Error> {
    let page: usize = match call.query("page") {
        None => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or_else(|| bad("page", "Must be a whole number from 1 to 1000000."))?,
    };
    let page_size: usize = match call.query("page_size") {
        None => default_size,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| (1..=MAX_PAGE_SIZE).contains(p))
            .ok_or_else(|| bad("page_size", "Must be a whole number from 1 to 100."))?,
    };
    Ok((page, page_size))
}

/// An RFC 3339 time parameter, in the stored form (which sorts as time).
pub(crate) fn time_param(call: &Call, name: &str) -> Result<Option<String>, Error> {
    call.query(name)
        .map(|t| crate::clock::parse_time(t).ok_or_else(|| bad(name, "Use an RFC 3339 time.")))
        .transpose()
}

/// Butter's paging `meta` for `count` items of which `page` shows up to `page_size`.
pub(crate) fn page_meta(
    count: usize,
    page: usize,
    page_size: usize,
) -> (Value, std::ops::Range<usize>) {
    let start = (page - 1).saturating_mul(page_size).min(count);
    let end = start.saturating_add(page_size).min(count);
    let meta = json!({
        "count": count,
        "next_page": (end < count).then_some(page + 1),
        "previous_page": (page > 1).then(|| page - 1),
    });
    (meta, start..end)
}

/// Entries a page number may pass over; past them a listing is walked with
/// `cursor` (reaching page N reads the keys before it).
pub const MAX_SKIP: usize = 50_000;
/// Items fetched by key at a time while filling a page, so that a page of
/// large items never sits in memory twice over.
const FETCH_CHUNK: usize = 10;
/// A page's own items stop here (their JSON), under Lambda's 6 MB response
/// with room for expanded references; `next_cursor` continues.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// What a listing asks for, parsed and checked against the collection.
struct ListArgs {
    page: usize,
    page_size: usize,
    updated_after: Option<String>,
    filters: Vec<(String, String)>,
    /// Field (or `created_at`, `updated_at`, `id`) and descending.
    order: Option<(String, bool)>,
}

impl ListArgs {
    fn parse(call: &Call, collection: &Collection) -> Result<ListArgs, Error> {
        let (page, page_size) = paging(call, DEFAULT_PAGE_SIZE)?;
        let updated_after = time_param(call, "updated_after")?;
        let mut filters = Vec::new();
        for (name, want) in call.query_pairs() {
            if let Some(field) = name.strip_prefix("fields.") {
                if collection.field(field).is_none() {
                    return Err(bad(name, "Unknown field."));
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
                    return Err(bad(
                        "order",
                        "Order by a field of the collection, created_at, updated_at or id.",
                    ));
                }
                Some((name.to_owned(), desc))
            }
        };
        Ok(ListArgs {
            page,
            page_size,
            updated_after,
            filters,
            order,
        })
    }

    /// How DynamoDB serves this listing, if it does: creation order
    /// (`created_at`, `id`, or none given) and last write, either way,
    /// without field filters (`updated_after` with the last-write order);
    /// an indexed field's order; one filter on an indexed field, in
    /// creation order or that field's. Indexes of fields still building, or
    /// built in another default locale, or read in another `locale`, do not.
    fn served(
        &self,
        collection: &Collection,
        org: &Org,
        locale: Option<&Locale>,
    ) -> Option<Served> {
        let order = self.order.as_ref().map(|(n, d)| (n.as_str(), *d));
        let indexed = |name: &str| {
            collection
                .field(name)
                .filter(|_| collection.index_serves(name, org, locale))
        };
        match self.filters.as_slice() {
            [] => {
                let (sorted, descending) = match order {
                    None => (Sorted::Created, false),
                    Some(("created_at" | "id", d)) => (Sorted::Created, d),
                    Some(("updated_at", d)) => (Sorted::Updated, d),
                    Some((name, d)) => (Sorted::Field(indexed(name)?.key.clone()), d),
                };
                if self.updated_after.is_some() && sorted != Sorted::Updated {
                    return None;
                }
                Some(Served {
                    sorted,
                    descending,
                    equals: None,
                })
            }
            [(name, want)] if self.updated_after.is_none() => {
                let field = indexed(name)?;
                let descending = match order {
                    None => false,
                    Some(("created_at" | "id", d)) => d,
                    Some((o, d)) if o == name => d,
                    Some(_) => return None,
                };
                let equals = match order::filter(order::kind_of(&field.kind), want) {
                    Filter::Prefix(p) => p,
                    Filter::Nothing => order::NOTHING.to_owned(),
                    Filter::Unserved => return None,
                };
                Some(Served {
                    sorted: Sorted::Field(field.key.clone()),
                    descending,
                    equals: Some(equals),
                })
            }
            _ => None,
        }
    }
}

/// How DynamoDB serves a listing: the index order, its direction, and for
/// a filter on an indexed field the prefix of its entries' sort keys.
struct Served {
    sorted: Sorted,
    descending: bool,
    equals: Option<String>,
}

/// One page of a collection's list, as the query asks: its `meta` (Butter's
/// `count`, `next_page`, `previous_page`, and `next_cursor`) and its items.
/// `memory` is what is left of the request's in-memory budget (items a
/// list filtered or ordered in memory may read; `memory_page`).
async fn list_page(
    app: &App,
    call: &Call,
    org: &Org,
    opts: &ReadView,
    key: &CollectionKey,
    memory: &mut usize,
) -> Result<(Value, Vec<Value>), Error> {
    let collection = app.collection(&org.id, key, false).await?;
    let args = ListArgs::parse(call, &collection)?;
    match args.served(&collection, org, opts.view.locale.as_ref()) {
        Some(served) => indexed_page(app, call, org, opts, &collection, &args, served).await,
        None if call.query("cursor").is_some() => Err(bad(
            "cursor",
            "A cursor pages lists in created_at or updated_at order, or by one indexed field, without other filters; use page with this one.",
        )),
        None => memory_page(app, call, org, opts, &collection, &args, memory).await,
    }
}

/// A page served by DynamoDB: the count, the page's keys from the index in
/// its order, then its items by key, a few at a time, up to `PAGE_BYTES`.
async fn indexed_page(
    app: &App,
    call: &Call,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    args: &ListArgs,
    served: Served,
) -> Result<(Value, Vec<Value>), Error> {
    let Served {
        sorted,
        descending,
        equals,
    } = served;
    let cursor = call
        .query("cursor")
        .map(|c| Cursor::decode(c, sorted.clone(), descending))
        .transpose()?;
    if cursor.is_some() && call.query("page").is_some() {
        return Err(bad("cursor", "Send page or cursor, not both."));
    }
    let skip = match cursor {
        Some(_) => 0,
        None => (args.page - 1).saturating_mul(args.page_size),
    };
    let preview = opts.view.preview;
    let query = PageQuery {
        org: &org.id,
        collection: &collection.key,
        sorted: sorted.clone(),
        descending,
        preview,
        after: cursor.as_ref().map(|c| c.after.as_str()),
        updated_after: args.updated_after.as_deref(),
        equals: equals.as_deref(),
        skip,
        take: args.page_size,
    };
    // Every live item has one entry in each order, so the collection's
    // count is the listing's, unless a range of entries is asked for: a
    // value's count is kept with its entries (in collections defined or
    // built since value counts exist), a time range is counted by its keys.
    let count = if equals.is_some() && args.updated_after.is_none() && collection.counted {
        app.store.count_value(&query).await?
    } else if args.updated_after.is_some() || equals.is_some() {
        app.store.count_entries(&query).await?
    } else {
        app.store
            .count_items(&org.id, &collection.key, preview)
            .await?
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    // Past the end is an empty page; a deep page short of it costs the keys
    // before it, so page numbers stop at MAX_SKIP.
    if skip > MAX_SKIP && skip < count {
        return Err(bad(
            "page",
            &format!("Pages by number reach the first {MAX_SKIP} items; walk further with cursor=<meta.next_cursor>."),
        ));
    }
    let (entries, more) = if cursor.is_none() && skip >= count {
        (Vec::new(), false)
    } else {
        app.store.page_keys(&query).await?
    };
    // The page's items, fetched a few at a time until the byte budget; an
    // entry whose item has moved on since the index listed it (deleted,
    // unpublished) is passed over.
    let mut items: Vec<ItemRecord> = Vec::with_capacity(entries.len());
    let mut bytes = 0usize;
    let mut shown = 0usize;
    'fetch: while shown < entries.len() {
        // As many as the budget left holds at the sizes seen so far (all
        // FETCH_CHUNK at first), so large items are not read in vain.
        let fits = match items.len() {
            0 => FETCH_CHUNK,
            n => PAGE_BYTES.saturating_sub(bytes) / (bytes / n).max(1) + 1,
        };
        let chunk = &entries[shown..(shown + fits.clamp(1, FETCH_CHUNK)).min(entries.len())];
        let ids: Vec<ItemId> = chunk.iter().map(|e| e.id).collect();
        let mut found = app
            .store
            .get_listed(&org.id, &collection.key, &ids)
            .await?
            .into_iter()
            .peekable();
        for entry in chunk {
            let item = match found.peek() {
                Some(i) if i.id == entry.id => found.next(),
                _ => None,
            };
            // An index lags its table: an item whose value moved off the
            // filter since the entry was read is passed over too.
            let still = |i: &ItemRecord| {
                args.filters.iter().all(|(f, want)| {
                    field_value(org, i, f, opts.view.locale.as_ref())
                        .is_some_and(|v| matches(v, want))
                })
            };
            if let Some(item) = item.filter(|i| visible(i, preview) && still(i)) {
                let size = json_len(&item.fields);
                if !items.is_empty() && bytes + size > PAGE_BYTES {
                    break 'fetch;
                }
                bytes += size;
                items.push(item);
            }
            shown += 1;
        }
    }
    let page_items: Vec<&ItemRecord> = items.iter().collect();
    let data = render_page(app, call, org, opts, collection, &page_items).await?;
    // Entries consumed: up to the last one shown when rendering cut the
    // page, else every one fetched (those passed over included).
    let consumed = match data.len() {
        n if n > 0 && n < page_items.len() => entries
            .iter()
            .position(|e| e.id == page_items[n - 1].id)
            .map_or(shown, |i| i + 1),
        _ => shown,
    };
    let next_cursor = (more || consumed < entries.len())
        .then(|| consumed.checked_sub(1))
        .flatten()
        .map(|i| {
            Cursor {
                sorted: sorted.clone(),
                descending,
                after: entries[i].sort_key.clone(),
            }
            .encode()
        });
    let paged = cursor.is_none();
    let meta = json!({
        "count": count,
        "next_page": (paged && skip.saturating_add(args.page_size) < count).then_some(args.page + 1),
        "previous_page": (paged && args.page > 1).then(|| args.page - 1),
        "next_cursor": next_cursor,
    });
    Ok((meta, data))
}

/// Renders a page's items: each one's own fields first, so the expansion
/// budget goes to what is left, stopping before the item that would pass
/// the response budget (one item always shows); then their expansions.
/// Fewer than `items` when the budget cut the page.
async fn render_page(
    app: &App,
    call: &Call,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    items: &[&ItemRecord],
) -> Result<Vec<Value>, Error> {
    let mut expander = Expander::load(app, org, &call.principal, opts, collection, items).await?;
    let mut data: Vec<Map<String, Value>> = Vec::with_capacity(items.len());
    for item in items {
        let base = expander.linked(collection, item);
        if !expander.charge(&base) && !data.is_empty() {
            break;
        }
        data.push(base);
    }
    Ok(items
        .iter()
        .zip(data)
        .map(|(item, base)| Value::Object(expander.expand_item(collection, item, base)))
        .collect())
}

/// A page filtered or ordered in memory (fields not indexed, several
/// filters, `updated_after` in creation order): reads the collection's
/// live items with only the values it compares, sorts, then fetches the
/// page's items by key. Above `memory_list_max` live items it is a 400
/// naming what to index instead. The limit bounds a request, not a list:
/// the lists of one `keys` read draw on one `memory` budget, so naming ten
/// collections never sorts ten times the limit; past it, a 400 too.
async fn memory_page(
    app: &App,
    call: &Call,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    args: &ListArgs,
    memory: &mut usize,
) -> Result<(Value, Vec<Value>), Error> {
    let ListArgs {
        page,
        page_size,
        updated_after,
        filters,
        order,
    } = args;
    let locale = opts.view.locale.as_ref();
    let live = app
        .store
        .count_items(&org.id, &collection.key, true)
        .await?;
    let live = usize::try_from(live).unwrap_or(usize::MAX);
    let max = app.config.memory_list_max;
    if live > max {
        return Err(too_many_for_memory(args, collection, org, locale, max));
    }
    // Within the limit alone, so the lists before this one spent the rest.
    *memory = memory.checked_sub(live).ok_or_else(|| {
        bad(
            "keys",
            &format!("These collections together have more than {max} items to filter or order in memory; name fewer collections in keys, or filter and order them by indexed fields."),
        )
    })?;
    // The values compared: each named field in the locale read and the
    // default one (the fallback).
    let named = filters
        .iter()
        .map(|(f, _)| f.as_str())
        .chain(order.as_ref().map(|(f, _)| f.as_str()));
    let mut stored: Vec<String> = Vec::new();
    for f in named.filter(|f| collection.field(f).is_some()) {
        if org.is_localized() {
            for l in locale.into_iter().chain(org.default_locale.as_ref()) {
                stored.push(format!("{l}.{f}"));
            }
        } else {
            stored.push(f.to_owned());
        }
    }
    stored.sort();
    stored.dedup();
    let mut items: Vec<ItemRecord> = app
        .store
        .list_projected(&org.id, &collection.key, &stored)
        .await?
        .into_iter()
        .filter(|i| visible(i, opts.view.preview))
        .filter(|i| updated_after.as_ref().is_none_or(|t| i.updated_at > *t))
        .filter(|i| {
            filters
                .iter()
                .all(|(f, want)| field_value(org, i, f, locale).is_some_and(|v| matches(v, want)))
        })
        .collect();
    if let Some((name, desc)) = &order {
        let sort_key = |i: &ItemRecord| -> Value {
            match name.as_str() {
                "created_at" => json!(i.created_at),
                "updated_at" => json!(i.updated_at),
                "id" => json!(i.id),
                f => field_value(org, i, f, locale)
                    .cloned()
                    .unwrap_or(Value::Null),
            }
        };
        // Equal values in creation order; `-field` is the exact reverse
        // of `field` (as an index reads it backwards).
        items.sort_by(|a, b| compare(&sort_key(a), &sort_key(b)).then_with(|| a.id.cmp(&b.id)));
        if *desc {
            items.reverse();
        }
    }
    let (mut meta, range) = page_meta(items.len(), *page, *page_size);
    meta["next_cursor"] = Value::Null;
    let ids: Vec<ItemId> = items[range].iter().map(|i| i.id).collect();
    drop(items);
    // The page's items whole; one changed since (deleted, unpublished) is
    // passed over, as an index page does.
    let full: Vec<ItemRecord> = app
        .store
        .get_listed(&org.id, &collection.key, &ids)
        .await?
        .into_iter()
        .filter(|i| visible(i, opts.view.preview))
        .collect();
    let page_items: Vec<&ItemRecord> = full.iter().collect();
    let data = render_page(app, call, org, opts, collection, &page_items).await?;
    if data.len() < page_items.len() {
        return Err(bad(
            "page_size",
            "This page is larger than a response may be (4 MB); ask for a smaller page_size.",
        ));
    }
    Ok((meta, data))
}

/// The 400 of a list that would sort more than `max` items in memory:
/// it names the parameter to change and the field to index.
fn too_many_for_memory(
    args: &ListArgs,
    collection: &Collection,
    org: &Org,
    locale: Option<&Locale>,
    max: usize,
) -> Error {
    let over = format!("This collection has more than {max} items");
    let serves = |f: &str| collection.index_serves(f, org, locale);
    let building = |f: &str| collection.building.iter().any(|b| b.as_str() == f);
    let unindexed = |f: &str| -> String {
        if building(f) {
            format!("{over}, and the index of \"{f}\" is still being built; try again in a minute.")
        } else if collection.field(f).is_some_and(|d| d.indexed) {
            format!("{over}; the index of \"{f}\" serves the organization's default locale only.")
        } else {
            format!("{over}: mark the field \"{f}\" as indexed in the collection to filter or order by it.")
        }
    };
    if let Some((f, _)) = args.filters.iter().find(|(f, _)| !serves(f)) {
        return bad(&format!("fields.{f}"), &unindexed(f));
    }
    if let Some((f, _)) = args
        .order
        .as_ref()
        .filter(|(f, _)| !matches!(f.as_str(), "created_at" | "updated_at" | "id") && !serves(f))
    {
        return bad("order", &unindexed(f));
    }
    if args.updated_after.is_some() {
        return bad(
            "updated_after",
            &format!("{over}: use updated_after with order=updated_at (or -updated_at)."),
        );
    }
    let first = args.filters.first().map_or("fields", |(f, _)| f.as_str());
    bad(
        &format!("fields.{first}"),
        &format!("{over}: list it with one filter on an indexed field, in creation order or that field's (a text value up to 256 bytes)."),
    )
}

fn json_len<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
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
                bad(
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
                    .ok_or_else(|| bad("keys", "Only [_id=<id>] may follow a collection key."))?;
                (
                    name,
                    Some(ItemId::parse(id).map_err(|e| bad("keys", &e.0))?),
                )
            }
        };
        let key = CollectionKey::parse(name).map_err(|e| bad("keys", &e.0))?;
        call.allow(&key)?;
        if wanted.iter().any(|(k, _)| *k == key) {
            return Err(bad("keys", "Name each collection once."));
        }
        wanted.push((key, id));
    }
    if wanted.len() > MAX_KEYS {
        return Err(bad(
            "keys",
            &format!("At most {MAX_KEYS} collections at once."),
        ));
    }
    if wanted.len() > 1 && call.query("cursor").is_some() {
        return Err(bad(
            "cursor",
            "A cursor continues one collection's list; name one key.",
        ));
    }
    let org = app.org(&call.principal.org).await?;
    let opts = read_options(call, &org)?;
    let mut data = Map::new();
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
                    .filter(|i| visible(i, opts.view.preview))
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
                        vec![Value::Object(expander.render(&collection, &item))]
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
        data.insert(key.to_string(), Value::Array(items));
    }
    let mut body = json!({ "data": data });
    if let (1, Some(m)) = (wanted.len(), meta) {
        body["meta"] = m;
    }
    if serde_json::to_vec(&body).map_or(0, |b| b.len()) > MAX_KEYS_BODY {
        return Err(bad(
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
