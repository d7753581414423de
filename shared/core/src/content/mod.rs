//! Items: their stored record, how a request's field values are checked
//! against the collection schema, and how an item is rendered for reads.

pub mod order;
mod relink;
mod validate;

pub use relink::{relinks, Relinks};
pub use validate::{storage_key, validate_full, validate_patch, OutRef, Patch, Validated};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ids::{CollectionKey, ItemId, Locale, OrgId};
use crate::schema::{Collection, Org};

/// Most distinct items one item may reference: what one DynamoDB
/// transaction can link and release in a write (`store::refs` checks it
/// against the transaction's bound).
pub const MAX_TARGETS: usize = 24;

/// Distinct items referenced by `refs`.
pub fn distinct_targets(refs: &[OutRef]) -> usize {
    refs.iter()
        .map(|r| (&r.collection, r.id))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

pub fn limit_message() -> String {
    format!("An item may reference at most {MAX_TARGETS} distinct items.")
}

/// The link an item renders as where it is not shown whole (a reference
/// not expanded, a webhook payload's `itemid`): a `keys` read of it.
pub fn item_link(collection: &CollectionKey, id: &str) -> String {
    format!("/v2/content/?keys={collection}[_id={id}]")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Draft,
    Published,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
        }
    }
}

/// An item as stored in DynamoDB. The store adds its keys and index
/// attributes (`store::keys`) when it writes one and ignores them on read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemRecord {
    pub org: OrgId,
    pub collection: CollectionKey,
    pub id: ItemId,
    pub status: Status,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Field values by storage key: `name`, or `en.name` in a localized org.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Epoch seconds after which DynamoDB TTL purges a deleted item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Outgoing references, `<collection>#<id>#<field>#<restrict|detach>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_refs: Vec<String>,
    /// How many live items reference this one through `restrict` fields:
    /// the delete guard. Who they are is in the edges (`store::refs`).
    #[serde(default)]
    pub restrict_count: u64,
    /// The request that wrote this version last (a hash of its id), so a
    /// retry after a lost response recognises its own write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<String>,
    /// Media ingest failures by field storage key (`store::media`): shown
    /// with `preview=1` while the field still holds that source URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media_status: BTreeMap<String, MediaStatus>,
}

/// Why a `media` field still holds its source URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaStatus {
    /// `failed`
    pub state: String,
    pub source: String,
    pub error: String,
    pub at: String,
}

impl ItemRecord {
    /// A new item (version 1, a new id) written at `now`, referencing
    /// nothing (a create sets `out_refs` from the validated fields).
    pub fn new(
        org: &OrgId,
        collection: &CollectionKey,
        status: Status,
        now: &str,
        fields: BTreeMap<String, Value>,
    ) -> ItemRecord {
        ItemRecord {
            org: org.clone(),
            collection: collection.clone(),
            id: ItemId::new(),
            status,
            version: 1,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            fields,
            deleted_at: None,
            expires_at: None,
            out_refs: Vec::new(),
            restrict_count: 0,
            write_token: None,
            media_status: BTreeMap::new(),
        }
    }

    /// Whether reads may show this item: not deleted, and not past a purge
    /// that DynamoDB's TTL (which can lag by days) has not carried out yet.
    pub fn is_live(&self, now_epoch: i64) -> bool {
        self.deleted_at.is_none() && self.expires_at.is_none_or(|t| t > now_epoch)
    }
}

/// How a read wants items shown.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub locale: Option<Locale>,
    /// `preview=1`: the meta also shows media ingest failures.
    pub preview: bool,
}

/// Renders an item: `{"meta": {...}, <field>: <value>, ...}`. Only the
/// schema's current fields are shown; in a localized org a value missing in
/// the requested locale falls back to the default locale's.
pub fn render(
    org: &Org,
    collection: &Collection,
    item: &ItemRecord,
    view: &View,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "meta".into(),
        json!({
            "id": item.id,
            "status": item.status,
            "version": item.version,
            "created_at": item.created_at,
            "updated_at": item.updated_at,
        }),
    );
    if view.preview {
        let failures: Map<String, Value> = item
            .media_status
            .iter()
            .filter(|(key, s)| item.fields.get(*key).and_then(Value::as_str) == Some(&s.source))
            .map(|(key, s)| (key.clone(), json!(s)))
            .collect();
        if !failures.is_empty() {
            out["meta"]["media"] = Value::Object(failures);
        }
    }
    let locale = view.locale.as_ref().or(org.default_locale.as_ref());
    for field in &collection.fields {
        out.insert(
            field.key.to_string(),
            field_value(org, item, field.key.as_str(), locale)
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    out
}

/// A field's stored value for a locale, with the default-locale fallback.
pub fn field_value<'a>(
    org: &Org,
    item: &'a ItemRecord,
    field: &str,
    locale: Option<&Locale>,
) -> Option<&'a Value> {
    if !org.is_localized() {
        return item.fields.get(field);
    }
    locale
        .and_then(|l| item.fields.get(&format!("{l}.{field}")))
        .or_else(|| {
            org.default_locale
                .as_ref()
                .and_then(|d| item.fields.get(&format!("{d}.{field}")))
        })
}
