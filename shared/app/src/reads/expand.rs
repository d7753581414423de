//! Reference expansion for reads (`levels`). Referenced items are fetched
//! level by level with `BatchGetItem`, each at most once per request, and
//! rendered within a budget: past `MAX_EXPANDED_ITEMS` expansions or
//! `MAX_RESPONSE_BYTES` of output, a reference renders as its link. A
//! reference into a collection the token may not read is always a link.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::app::App;
use crate::auth::Principal;
use crate::content::{render, ItemRecord, Rendered, View};
use crate::error::Error;
use crate::ids::{CollectionKey, ItemId};
use crate::schema::{Collection, Org};
use crate::store::{now_epoch, Target};

/// Referenced items one response may expand (each expansion counts, also
/// of an item already shown elsewhere in the response).
pub const MAX_EXPANDED_ITEMS: usize = 1_000;
/// A response body's size budget: Lambda answers at most 6 MB, and the
/// body travels JSON-escaped inside that payload.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// What a read shows.
pub struct ReadView {
    /// The locale and `preview` (drafts visible, media status shown).
    pub view: View,
    pub levels: u8,
}

/// The item as a read in this view shows it (`ItemRecord::in_view`: the
/// live version of an item with a draft without `preview`), or None when
/// the view does not show it (deleted, or a draft outside preview).
pub fn viewed(item: ItemRecord, preview: bool) -> Option<ItemRecord> {
    Some(item)
        .filter(|i| i.is_live(now_epoch()))?
        .in_view(preview)
}

/// The ids a reference field holds, as stored.
fn reference_ids(item: &ItemRecord, org: &Org, field: &str, view: &View) -> Vec<String> {
    match crate::content::field_value(org, item, field, view.locale.as_ref()) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub struct Expander<'a> {
    org: &'a Org,
    principal: &'a Principal,
    read: &'a ReadView,
    /// Schemas of the collections references may expand into.
    schemas: HashMap<CollectionKey, Arc<Collection>>,
    /// Every referenced item fetched, visible or not (None: absent).
    fetched: HashMap<Target, Option<ItemRecord>>,
    expanded: usize,
    bytes: usize,
}

impl<'a> Expander<'a> {
    /// Fetches what `items` (of `collection`) reference, down to the
    /// requested depth, in one `BatchGetItem` round per level.
    pub async fn load(
        app: &App,
        org: &'a Org,
        principal: &'a Principal,
        read: &'a ReadView,
        collection: &Collection,
        items: &[&ItemRecord],
    ) -> Result<Expander<'a>, Error> {
        let mut e = Expander {
            org,
            principal,
            read,
            schemas: HashMap::from([(collection.key.clone(), Arc::new(collection.clone()))]),
            fetched: HashMap::new(),
            expanded: 0,
            bytes: 0,
        };
        let mut frontier: Vec<ItemRecord> = items.iter().map(|i| (*i).clone()).collect();
        for _depth in 1..read.levels {
            let mut wanted: BTreeSet<Target> = BTreeSet::new();
            for item in &frontier {
                let Some(schema) = e.schemas.get(&item.collection).cloned() else {
                    continue;
                };
                for (field, target, _) in schema.reference_fields() {
                    if !principal.may_read(target) {
                        continue;
                    }
                    if !e.schemas.contains_key(target) {
                        match app.collection(&org.id, target, false).await {
                            Ok(s) => {
                                e.schemas.insert(target.clone(), s);
                            }
                            Err(_) => continue,
                        }
                    }
                    for raw in reference_ids(item, org, field.key.as_str(), &read.view) {
                        if let Ok(id) = ItemId::parse(&raw) {
                            let t = (target.clone(), id);
                            if !e.fetched.contains_key(&t) {
                                wanted.insert(t);
                            }
                        }
                    }
                }
            }
            // Never fetch more than the budget can show.
            let room = MAX_EXPANDED_ITEMS.saturating_sub(e.fetched.len());
            let wanted: Vec<Target> = wanted.into_iter().take(room).collect();
            if wanted.is_empty() {
                break;
            }
            let mut found = app.store.get_items(&org.id, &wanted).await?;
            frontier = Vec::new();
            for t in wanted {
                let item = found.remove(&t).and_then(|i| viewed(i, read.view.preview));
                if let Some(i) = &item {
                    frontier.push(i.clone());
                }
                e.fetched.insert(t, item);
            }
        }
        Ok(e)
    }

    /// An item rendered with every reference as its link: what the
    /// response holds before any expansion.
    pub fn linked(&self, collection: &Collection, item: &ItemRecord) -> Rendered {
        let mut out = render(self.org, collection, item, &self.read.view);
        for (field, target, many) in collection.reference_fields() {
            let links = reference_ids(item, self.org, field.key.as_str(), &self.read.view)
                .into_iter()
                .map(|raw| Value::String(crate::content::item_link(target, &raw)));
            let value = if many {
                Value::Array(links.collect())
            } else {
                links.into_iter().next().unwrap_or(Value::Null)
            };
            out.fields.insert(field.key.to_string(), value);
        }
        out
    }

    /// Charges a top-level item (as `linked` renders it) to the response
    /// budget; `false` once the top-level items alone pass it.
    pub fn charge(&mut self, linked: &Rendered) -> bool {
        self.bytes += json_len(linked);
        self.bytes <= MAX_RESPONSE_BYTES
    }

    /// Renders an item of `collection` with its references expanded.
    pub fn render(&mut self, collection: &Collection, item: &ItemRecord) -> Rendered {
        let out = self.linked(collection, item);
        self.charge(&out);
        self.expand(collection, item, out, 1)
    }

    /// Expands the references of an item that `linked` rendered.
    pub fn expand_item(
        &mut self,
        collection: &Collection,
        item: &ItemRecord,
        linked: Rendered,
    ) -> Rendered {
        self.expand(collection, item, linked, 1)
    }

    /// Replaces links with the items they name, to the requested depth and
    /// within the budget; a fetched item that is not visible becomes null
    /// (and leaves a list).
    fn expand(
        &mut self,
        collection: &Collection,
        item: &ItemRecord,
        mut out: Rendered,
        depth: u8,
    ) -> Rendered {
        for (field, target, many) in collection.reference_fields() {
            if depth >= self.read.levels || !self.principal.may_read(target) {
                continue;
            }
            let Some(schema) = self.schemas.get(target).cloned() else {
                continue;
            };
            let ids = reference_ids(item, self.org, field.key.as_str(), &self.read.view);
            let mut values = Vec::with_capacity(ids.len());
            for raw in &ids {
                let fetched = ItemId::parse(raw)
                    .ok()
                    .and_then(|id| self.fetched.get(&(target.clone(), id)));
                let value = match fetched {
                    Some(Some(child)) => {
                        let child = child.clone();
                        self.expand_child(&schema, &child, depth)
                            .unwrap_or_else(|| {
                                Value::String(crate::content::item_link(target, raw))
                            })
                    }
                    // Fetched and gone, deleted, or a draft outside preview.
                    Some(None) => Value::Null,
                    // Not fetched (past the fetch budget) or not an id.
                    None => Value::String(crate::content::item_link(target, raw)),
                };
                values.push(value);
            }
            let value = if many {
                Value::Array(values.into_iter().filter(|v| !v.is_null()).collect())
            } else {
                values.into_iter().next().unwrap_or(Value::Null)
            };
            out.fields.insert(field.key.to_string(), value);
        }
        out
    }

    /// One expansion, if the budget allows it.
    fn expand_child(
        &mut self,
        schema: &Collection,
        child: &ItemRecord,
        depth: u8,
    ) -> Option<Value> {
        if self.expanded >= MAX_EXPANDED_ITEMS {
            return None;
        }
        let linked = self.linked(schema, child);
        let size = json_len(&linked);
        if self.bytes + size > MAX_RESPONSE_BYTES {
            return None;
        }
        self.expanded += 1;
        self.bytes += size;
        Some(self.expand(schema, child, linked, depth + 1).into_value())
    }

    pub fn expanded(&self) -> usize {
        self.expanded
    }
}

fn json_len(m: &Rendered) -> usize {
    serde_json::to_vec(m).map_or(0, |v| v.len())
}
