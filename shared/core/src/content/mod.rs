//! Items: their stored record, how a request's field values are checked
//! against the collection schema, and how an item is rendered for reads.

mod history;
pub mod order;
mod relink;
mod revert;
mod state;
mod validate;

pub use history::{compare, Action, Author, Difference, Version};
pub use relink::{drop_reference, relinks, Relinks};
pub use revert::{revert_input, RevertInput};
pub use state::{Live, State};
pub use validate::{storage_key, validate_full, validate_patch, OutRef, Patch, Validated};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ids::{CollectionKey, ItemId, Locale, OrgId};
use crate::schema::{Collection, Org};

/// Most distinct items one item may reference, its live version and its
/// draft together: what one DynamoDB transaction can link and release in a
/// write (`store::refs` checks it against the transaction's bound).
pub const MAX_TARGETS: usize = 24;

/// Distinct items referenced by `refs`.
pub fn distinct_targets(refs: &[OutRef]) -> usize {
    refs.iter()
        .map(|r| (&r.collection, r.id))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

pub fn limit_message() -> String {
    format!("An item may reference at most {MAX_TARGETS} distinct items (its published version and its draft together).")
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
    /// The item's state (`content::state`).
    pub status: State,
    /// The newest version (every write moves it; If-Match compares it).
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The newest content's field values by storage key: `name`, or
    /// `en.name` in a localized org.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// The published version while a newer draft exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    /// Set by `in_view` on an item with a draft shown in the published
    /// view: the draft's version. Never stored.
    #[serde(skip)]
    pub newest_version: Option<u64>,
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
    /// The id of the item's pending publish schedule (`schedule`), and of
    /// its pending unpublish one: a fire is conditioned on it, and every
    /// write that cancels one removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_publish: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_unpublish: Option<String>,
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
            status: status.into(),
            version: 1,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            fields,
            live: None,
            newest_version: None,
            deleted_at: None,
            expires_at: None,
            out_refs: Vec::new(),
            restrict_count: 0,
            write_token: None,
            media_status: BTreeMap::new(),
            pending_publish: None,
            pending_unpublish: None,
        }
    }

    /// The id of the item's pending schedule of `action`, if any.
    pub fn pending(&self, action: crate::schedule::ScheduleAction) -> Option<&str> {
        match action {
            crate::schedule::ScheduleAction::Publish => self.pending_publish.as_deref(),
            crate::schedule::ScheduleAction::Unpublish => self.pending_unpublish.as_deref(),
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

/// An item as a read shows it: `meta`, and beside it the collection's
/// current fields (defined at run time, so open: references as links or
/// expanded items, `null` where no value is stored).
/// A field named `meta` (nothing reserves the name) stands in the item's
/// `meta`, as it always has.
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(as = Item)]
pub struct Rendered {
    pub meta: ItemMeta,
    #[schema(ignore)]
    pub fields: Map<String, Value>,
}

impl Serialize for Rendered {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let own_meta = !self.fields.contains_key("meta");
        let mut map = s.serialize_map(Some(self.fields.len() + usize::from(own_meta)))?;
        if own_meta {
            map.serialize_entry("meta", &self.meta)?;
        }
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Rendered {
    /// As a value, to stand in another item's field (an expansion).
    pub fn into_value(self) -> Value {
        let mut out = Map::new();
        out.insert("meta".into(), json!(self.meta));
        out.extend(self.fields);
        Value::Object(out)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemMeta {
    #[schema(value_type = String)]
    pub id: ItemId,
    /// The item's state, the same in both views.
    pub status: State,
    /// The version shown: the published one without `preview`, the
    /// newest with it.
    #[schema(minimum = 1)]
    pub version: u64,
    /// The live version, when the item is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub published_version: Option<u64>,
    /// The draft's version, when the newest content is a draft: what
    /// If-Match names (writes apply to the newest version).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub draft_version: Option<u64>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// With `preview=1`: media fields whose ingest failed, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub media: Option<Map<String, Value>>,
    /// In the trash: when it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub deleted_at: Option<String>,
    /// In the trash: when it is purged (`null`: kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub purge_at: Option<Option<String>>,
}

/// Renders an item: its `meta` and the schema's current fields only; in a
/// localized org a value missing in the requested locale falls back to the
/// default locale's.
pub fn render(org: &Org, collection: &Collection, item: &ItemRecord, view: &View) -> Rendered {
    let media = view
        .preview
        .then(|| {
            item.media_status
                .iter()
                .filter(|(key, s)| item.fields.get(*key).and_then(Value::as_str) == Some(&s.source))
                .map(|(key, s)| (key.clone(), json!(s)))
                .collect::<Map<String, Value>>()
        })
        .filter(|failures| !failures.is_empty());
    let meta = ItemMeta {
        id: item.id,
        status: item.status,
        version: item.version,
        published_version: item.published_version(),
        draft_version: item.draft_version(),
        created_at: item.created_at.clone(),
        updated_at: item.updated_at.clone(),
        media,
        deleted_at: None,
        purge_at: None,
    };
    let locale = view.locale.as_ref().or(org.default_locale.as_ref());
    let mut fields = Map::new();
    for field in &collection.fields {
        fields.insert(
            field.key.to_string(),
            field_value(org, item, field.key.as_str(), locale)
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    Rendered { meta, fields }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(fields: Value) -> Rendered {
        let Value::Object(fields) = fields else {
            unreachable!("an object")
        };
        Rendered {
            meta: ItemMeta {
                id: ItemId::parse("01JF0000000000000000000000").unwrap(),
                status: State::Published,
                version: 3,
                published_version: Some(3),
                draft_version: None,
                created_at: "2026-01-01T00:00:00Z".into(),
                updated_at: "2026-01-02T00:00:00Z".into(),
                media: None,
                deleted_at: None,
                purge_at: None,
            },
            fields,
        }
    }

    #[test]
    fn an_item_is_its_meta_beside_its_fields_and_a_field_named_meta_stands_in_it() {
        let plain = rendered(json!({"name": "Ada", "role": null}));
        let body = serde_json::to_value(&plain).unwrap();
        assert_eq!(body["meta"]["version"], 3);
        assert_eq!(body["name"], "Ada");
        assert!(body["meta"].get("media").is_none(), "absent, not null");
        assert_eq!(plain.clone().into_value(), body);
        // One `meta` key, the field's, at the top and when nested alike.
        let odd = rendered(json!({"meta": "a field's value"}));
        let text = serde_json::to_string(&odd).unwrap();
        assert_eq!(text.matches("\"meta\"").count(), 1, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["meta"],
            "a field's value"
        );
        assert_eq!(odd.into_value()["meta"], "a field's value");
    }
}
