//! Indexed fields. A field marked `indexed: true` keeps, for every live
//! item, one entry item in the item's partition (`keys::entry`, sk
//! `IDX#<field>`) carrying `ix_pk = <org>#<collection>#<field>#<p|d|l>` and
//! `ix_sk = <encoded value>#<id>`. The one keys-only `by_field` index lists
//! them, so `order=<field>` reads the entries in value order and
//! `fields.<field>=<v>` reads those whose `ix_sk` begins with `v`'s
//! encoding (in creation order): a page reads its keys, then its items by
//! key, as the creation-order listings do (`store::pages`). (The index
//! also lists `restrict` reference edges, under partitions of their own:
//! `keys::restrict_holders`.)
//!
//! Entries move in the item's own transaction: create puts them, a write
//! that changes an indexed value or the status puts the changed ones, a
//! delete removes them and a restore puts them back; each move also moves
//! its value's count (`store::commit::ops::wire`), so a filter's count is read
//! from count shards, not counted. A listing never sees
//! an item's entry disagree with the item it fetches. Every indexed field
//! of an item has an entry, a missing value included (it sorts last), so
//! an order by the field lists exactly what the collection's count says.
//!
//! A field indexed on a collection that already has items is "building"
//! (`Collection::building`) until a build has written every live item's
//! entry (the worker's `index_build` job, run from the collection record's
//! stream change, or `Store::build_index` by hand); listings by it are
//! served from memory meanwhile. The build and its purge: `build`.
//!
//! Values are encoded for the index by `content::order`.

mod build;

pub use build::{
    build_job, settle_left, BuildPage, Built, Purged, BUILD_PAGE, PURGE_PAGE, SETTLE_MARGIN,
};

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::commit::{Action, EntryKeys, Op, Role};
use super::keys::{self, Side};
use super::Store;
use folio_core::content::order::{encode, kind_of, Kind};
use folio_core::content::{ItemRecord, State};
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, FieldKey, ItemId, Locale, OrgId};
use folio_core::schema::{Collection, Org};

/// The indexed fields of a collection as an item write keeps them.
#[derive(Debug, Clone, Default)]
pub struct Indexing {
    fields: Vec<(FieldKey, Kind)>,
    /// A localized organization's entries hold its default locale's values.
    locale: Option<Locale>,
}

impl Indexing {
    /// No indexed fields: writes keep no entries.
    pub fn none() -> Indexing {
        Indexing::default()
    }

    pub fn of(org: &Org, collection: &Collection) -> Indexing {
        Indexing {
            fields: collection
                .indexed_fields()
                .map(|f| (f.key.clone(), kind_of(&f.kind)))
                .collect(),
            locale: org.default_locale.clone().filter(|_| org.is_localized()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Only these fields (a build of some of them).
    fn only(&self, wanted: &BTreeSet<FieldKey>) -> Indexing {
        Indexing {
            fields: self
                .fields
                .iter()
                .filter(|(f, _)| wanted.contains(f))
                .cloned()
                .collect(),
            locale: self.locale.clone(),
        }
    }

    fn value<'a>(&self, fields: &'a BTreeMap<String, Value>, field: &str) -> Option<&'a Value> {
        match &self.locale {
            None => fields.get(field),
            Some(l) => fields.get(&format!("{l}.{field}")),
        }
    }
}

/// One version of an item as its entries see it: its values and the side
/// of the listings it is on (`keys::Side`).
#[derive(Debug, Clone, Copy)]
struct Shown<'a> {
    pub fields: &'a BTreeMap<String, Value>,
    pub side: Side,
}

/// The versions of a live item that have entries: its newest content
/// (`IDX#<field>`), and the live version under a draft (`LIVE#IDX#<field>`).
fn slots(r: &ItemRecord) -> [Option<Shown<'_>>; 2] {
    let live = r
        .live
        .as_ref()
        .filter(|_| r.status == State::PublishedWithDraft)
        .map(|l| Shown {
            fields: &l.fields,
            side: Side::Live,
        });
    [
        Some(Shown {
            fields: &r.fields,
            side: Side::of(r.status),
        }),
        live,
    ]
}

/// An entry's index keys as a write makes them.
fn entry_keys(
    org: &OrgId,
    collection: &CollectionKey,
    id: &ItemId,
    ix: &Indexing,
    field: &FieldKey,
    item: Shown<'_>,
) -> EntryKeys {
    EntryKeys {
        ix_pk: keys::field_partition(org, collection, field.as_str(), item.side),
        ix_sk: format!("{}#{id}", encode(ix.value(item.fields, field.as_str()))),
        counted: true,
    }
}

/// The entry moves that take an item from `old` to `new` (None: not live;
/// for `old`, also unknown: each entry is then believed absent, and
/// `Store::commit` learns any stored one): one per entry whose keys change,
/// for both of its versions.
pub(crate) fn entry_ops(
    org: &OrgId,
    collection: &CollectionKey,
    id: &ItemId,
    ix: &Indexing,
    old: Option<&ItemRecord>,
    new: Option<&ItemRecord>,
) -> Vec<Op> {
    let (old, new) = (old.map(slots), new.map(slots));
    let mut ops = Vec::new();
    for slot in 0..2 {
        let live = slot == 1;
        let before = old.and_then(|o| o[slot]);
        let after = new.and_then(|n| n[slot]);
        for (field, _) in &ix.fields {
            let from = before.map(|o| entry_keys(org, collection, id, ix, field, o));
            let to = after.map(|n| entry_keys(org, collection, id, ix, field, n));
            if from == to {
                continue;
            }
            ops.push(Op {
                role: Role::Entry,
                action: Action::Entry {
                    key: keys::entry(org, collection, id, field.as_str(), live),
                    from,
                    to,
                },
            });
        }
    }
    ops
}

/// The entry deletes of an item that stops being live (a delete).
pub(crate) fn leaving_ops(
    org: &OrgId,
    collection: &CollectionKey,
    item: &ItemRecord,
    ix: &Indexing,
) -> Vec<Op> {
    entry_ops(org, collection, &item.id, ix, Some(item), None)
}

/// A collection record's `building` attribute.
pub(crate) fn field_list(fields: &BTreeSet<FieldKey>) -> AttributeValue {
    AttributeValue::L(
        fields
            .iter()
            .map(|f| AttributeValue::S(f.to_string()))
            .collect(),
    )
}

/// A collection record's `index_locale` attribute.
pub(crate) fn locale_value(locale: Option<&Locale>) -> AttributeValue {
    locale.map_or(AttributeValue::Null(true), |l| {
        AttributeValue::S(l.to_string())
    })
}

impl Store {
    /// The indexed fields of a collection as stored now (the worker's
    /// view; requests use `App::indexing`'s cached one).
    pub async fn indexing(&self, org: &OrgId, key: &CollectionKey) -> Result<Indexing, Error> {
        let Some(collection) = self.get_collection(org, key).await? else {
            return Ok(Indexing::none());
        };
        Ok(Indexing::of(&self.org_settings(org).await?, &collection))
    }

    /// An index entry's keys as stored: (`ix_pk`, `ix_sk`) of `field` for
    /// the item, None when it has no entry (tests and the admin check).
    pub async fn index_entry(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        id: &ItemId,
        field: &str,
    ) -> Result<Option<(String, String)>, Error> {
        let Some(item) = self
            .get_strong(keys::entry(org, collection, id, field, false))
            .await?
        else {
            return Ok(None);
        };
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        Ok(s(keys::IX_PK).zip(s(keys::IX_SK)))
    }
}
