//! The response bodies the handlers answer with, each a type: the handler
//! serializes it and the OpenAPI document describes it (`ToSchema`), so
//! the two cannot drift (refusals: `http::refusals`). Items are the exception in part: their fields
//! are defined per collection at run time, so an item is `meta` plus open
//! fields (`reads`, `content::render`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use utoipa::ToSchema;

use crate::content::Rendered;
use crate::ids::ItemId;
use crate::reads::{ListMeta, PageMeta};
use crate::schema::{Collection, FieldSpec};

/// A collection's definition, as defined and read.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Collection)]
pub struct CollectionBody {
    #[schema(value_type = String)]
    pub key: crate::ids::CollectionKey,
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<FieldSpec>,
    /// Indexed fields whose index is still being built: lists by them are
    /// served from memory meanwhile.
    #[schema(value_type = Vec<String>)]
    pub building: BTreeSet<crate::ids::FieldKey>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Collection> for CollectionBody {
    fn from(c: &Collection) -> Self {
        CollectionBody {
            key: c.key.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            fields: c.specs(),
            building: c.building.clone(),
            created_at: c.created_at.clone(),
            updated_at: c.updated_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionList {
    pub meta: Count,
    pub data: Vec<CollectionBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub count: usize,
}

/// What a write answers before its background work: `pending`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pending {
    Pending,
}

/// An item as a write leaves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdVersion {
    #[schema(value_type = String)]
    pub id: ItemId,
    #[schema(minimum = 1)]
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedItem {
    pub meta: IdVersion,
}

/// The 202 of a create: every item's id, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub status: Pending,
    pub items: Vec<CreatedItem>,
}

/// The 202 of a replace or patch.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    pub status: Pending,
    pub meta: IdVersion,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RestoredStatus {
    Restored,
}

/// The 200 of a restore.
#[derive(Debug, Serialize, ToSchema)]
pub struct Restored {
    pub status: RestoredStatus,
    pub meta: IdVersion,
}

/// Flotiq's answer to a batch delete that deleted every id.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDeleted {
    #[serde(rename = "deletedCount")]
    pub deleted_count: usize,
}

/// A batch delete that could not delete some ids: what it deleted, and why
/// each other one was not. (Its other 400s are a plain `{"detail"}`.)
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDeleteErrors {
    pub detail: String,
    #[serde(rename = "deletedCount")]
    #[schema(required = false)]
    pub deleted_count: usize,
    #[schema(required = false)]
    pub errors: Vec<String>,
}

/// A page of a collection's list, its items under the collection's key
/// (ButterCMS's shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    pub meta: ListMeta,
    pub data: BTreeMap<String, Vec<Rendered>>,
}

/// A `keys=` read: each collection's page, or one item (`a[_id=<id>]`,
/// `[]` when it is not there), under its key; with one key the list's
/// `meta` too, exactly as the list answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysRead {
    pub data: BTreeMap<String, Vec<Rendered>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
}

/// A page of the trash, oldest deletion first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedList {
    pub meta: PageMeta,
    pub data: BTreeMap<String, Vec<Rendered>>,
}

/// One version of an item, as its list shows it (its content: `GET
/// …/versions/{version}/`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionEntry {
    #[schema(minimum = 1)]
    pub version: u64,
    /// The item's state after the write.
    pub status: crate::content::State,
    pub action: crate::content::Action,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub by: crate::content::Author,
}

impl From<crate::content::Version> for VersionEntry {
    fn from(v: crate::content::Version) -> Self {
        VersionEntry {
            version: v.version,
            status: v.status,
            action: v.action,
            created_at: v.created_at,
            by: v.by,
        }
    }
}

/// A page of an item's versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    pub data: Vec<VersionEntry>,
    pub meta: VersionListMeta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionListMeta {
    /// Where the next (older) page starts (`cursor`); null on the last.
    pub next_cursor: Option<String>,
}

/// What differs from one version to another, field by field (storage
/// keys, `en.name` when localized): `from` is the first version's value,
/// `to` the other's, null where one has none.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionComparison {
    pub data: Vec<crate::content::Difference>,
}

/// The 202 of a revert: the item's new version, and what of the old one
/// could not come back (fields removed from the schema since, detach
/// references to items gone since).
#[derive(Debug, Serialize, ToSchema)]
pub struct Reverted {
    pub status: Pending,
    pub meta: IdVersion,
    pub dropped: Vec<String>,
}
