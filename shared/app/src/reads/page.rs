//! A listing run as planned: a page served by an index (count, keys, then
//! items by key under the byte budget) or filtered and ordered in memory
//! (under the request's memory budget), then rendered with its expansions.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::cursor::Cursor;
use super::expand::{viewed, Expander, ReadView};
use super::plan::{too_many_for_memory, ListQuery, Served};
use crate::app::App;
use crate::auth::Principal;
use crate::content::order::{compare, matches};
use crate::content::{field_value, ItemRecord, Rendered};
use crate::error::Error;
use crate::ids::ItemId;
use crate::schema::{Collection, Org};
use crate::store::pages::PageQuery;

/// Entries a page number may pass over; past them a listing is walked with
/// `cursor` (reaching page N reads the keys before it).
pub const MAX_SKIP: usize = 50_000;
/// Items fetched by key at a time while filling a page, so that a page of
/// large items never sits in memory twice over.
const FETCH_CHUNK: usize = 10;
/// A page's own items stop here (their JSON), under Lambda's 6 MB response
/// with room for expanded references; `next_cursor` continues.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Butter's paging `meta`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageMeta {
    pub count: usize,
    pub next_page: Option<usize>,
    pub previous_page: Option<usize>,
}

/// A list's `meta`: Butter's paging, and where the next page starts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListMeta {
    #[serde(flatten)]
    pub page: PageMeta,
    /// Where the next page starts, when more follow (lists served in
    /// created_at or updated_at order, or by an indexed field; also when a
    /// page stopped short at its 4 MB budget).
    pub next_cursor: Option<String>,
}

/// Butter's paging `meta` for `count` items of which `page` shows up to `page_size`.
pub fn page_meta(
    count: usize,
    page: usize,
    page_size: usize,
) -> (PageMeta, std::ops::Range<usize>) {
    let start = (page - 1).saturating_mul(page_size).min(count);
    let end = start.saturating_add(page_size).min(count);
    let meta = PageMeta {
        count,
        next_page: (end < count).then_some(page + 1),
        previous_page: (page > 1).then(|| page - 1),
    };
    (meta, start..end)
}

/// One page of a collection's list, as the query asks: its `meta` (Butter's
/// `count`, `next_page`, `previous_page`, and `next_cursor`) and its items.
/// `memory` is what is left of the request's in-memory budget (items a
/// list filtered or ordered in memory may read; `memory_page`).
pub async fn list_page(
    app: &App,
    principal: &Principal,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    args: &ListQuery,
    memory: &mut usize,
) -> Result<(ListMeta, Vec<Rendered>), Error> {
    match args.served(collection, org, opts.view.locale.as_ref()) {
        Some(served) => indexed_page(app, principal, org, opts, collection, args, served).await,
        None if args.cursor.is_some() => Err(Error::field(
            "cursor",
            "A cursor pages lists in created_at or updated_at order, or by one indexed field, without other filters; use page with this one.",
        )),
        None => memory_page(app, principal, org, opts, collection, args, memory).await,
    }
}

/// A page served by DynamoDB: the count, the page's keys from the index in
/// its order, then its items by key, a few at a time, up to `PAGE_BYTES`.
async fn indexed_page(
    app: &App,
    principal: &Principal,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    args: &ListQuery,
    served: Served,
) -> Result<(ListMeta, Vec<Rendered>), Error> {
    let Served {
        sorted,
        descending,
        equals,
    } = served;
    let cursor = args
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, sorted.clone(), descending))
        .transpose()?;
    if cursor.is_some() && args.page_given {
        return Err(Error::field("cursor", "Send page or cursor, not both."));
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
        return Err(Error::field(
            "page",
            format!("Pages by number reach the first {MAX_SKIP} items; walk further with cursor=<meta.next_cursor>."),
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
            if let Some(item) = item.and_then(|i| viewed(i, preview)).filter(still) {
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
    let data = render_page(app, principal, org, opts, collection, &page_items).await?;
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
    let meta = ListMeta {
        page: PageMeta {
            count,
            next_page: (paged && skip.saturating_add(args.page_size) < count)
                .then_some(args.page + 1),
            previous_page: (paged && args.page > 1).then(|| args.page - 1),
        },
        next_cursor,
    };
    Ok((meta, data))
}

/// Renders a page's items: each one's own fields first, so the expansion
/// budget goes to what is left, stopping before the item that would pass
/// the response budget (one item always shows); then their expansions.
/// Fewer than `items` when the budget cut the page.
async fn render_page(
    app: &App,
    principal: &Principal,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    items: &[&ItemRecord],
) -> Result<Vec<Rendered>, Error> {
    let mut expander = Expander::load(app, org, principal, opts, collection, items).await?;
    let mut data: Vec<Rendered> = Vec::with_capacity(items.len());
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
        .map(|(item, base)| expander.expand_item(collection, item, base))
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
    principal: &Principal,
    org: &Org,
    opts: &ReadView,
    collection: &Collection,
    args: &ListQuery,
    memory: &mut usize,
) -> Result<(ListMeta, Vec<Rendered>), Error> {
    let ListQuery {
        page,
        page_size,
        updated_after,
        filters,
        order,
        ..
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
        Error::field(
            "keys",
            format!("These collections together have more than {max} items to filter or order in memory; name fewer collections in keys, or filter and order them by indexed fields."),
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
        .filter_map(|i| viewed(i, opts.view.preview))
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
    let (page, range) = page_meta(items.len(), *page, *page_size);
    let meta = ListMeta {
        page,
        next_cursor: None,
    };
    let ids: Vec<ItemId> = items[range].iter().map(|i| i.id).collect();
    drop(items);
    // The page's items whole; one changed since (deleted, unpublished) is
    // passed over, as an index page does.
    let full: Vec<ItemRecord> = app
        .store
        .get_listed(&org.id, &collection.key, &ids)
        .await?
        .into_iter()
        .filter_map(|i| viewed(i, opts.view.preview))
        .collect();
    let page_items: Vec<&ItemRecord> = full.iter().collect();
    let data = render_page(app, principal, org, opts, collection, &page_items).await?;
    if data.len() < page_items.len() {
        return Err(Error::field(
            "page_size",
            "This page is larger than a response may be (4 MB); ask for a smaller page_size.",
        ));
    }
    Ok((meta, data))
}

fn json_len<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}
