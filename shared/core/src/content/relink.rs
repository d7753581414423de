//! What a deleted item's stored references become when it is restored: the
//! collection may have been redefined while the item sat in the trash, and
//! a restore links only what a write under the current schema would link.

use std::collections::BTreeMap;

use serde_json::Value;

use super::OutRef;
use crate::schema::{Collection, FieldType};

/// A restored item's stored references, sorted by the current schema.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Relinks {
    /// Linked again as edges, with the current field's `on_delete`.
    pub links: Vec<OutRef>,
    /// Removed from the item's values: the field now references another
    /// collection, where the stored id names no item (kept, it would be a
    /// reference no edge guards).
    pub dropped: Vec<OutRef>,
}

/// Sorts `stored` (an item's `out_refs`) by `collection`'s current fields.
/// A value whose field is no longer a reference (now text, say, or removed)
/// stays in the item as plain data, rendered per the current schema, but
/// is not linked: no edge, nothing that pins its old target.
pub fn relinks(collection: &Collection, stored: Vec<OutRef>) -> Relinks {
    let mut out = Relinks::default();
    for r in stored {
        // A storage key is `field` or `locale.field`; field keys hold no dot.
        let key = r.field.rsplit('.').next().unwrap_or_default();
        match collection.field(key).map(|f| &f.kind) {
            Some(FieldType::Reference {
                collection: target,
                on_delete,
                ..
            }) if *target == r.collection => out.links.push(OutRef {
                on_delete: *on_delete,
                ..r
            }),
            Some(FieldType::Reference { .. }) => out.dropped.push(r),
            _ => {}
        }
    }
    out
}

/// Removes `r`'s target from the field value that holds it (`fields` by
/// storage key): a single reference goes, a list loses the id (and goes
/// once empty).
pub fn drop_reference(fields: &mut BTreeMap<String, Value>, r: &OutRef) {
    let id = r.id.to_string();
    let keep = match fields.get_mut(&r.field) {
        Some(Value::String(s)) => *s != id,
        Some(Value::Array(a)) => {
            a.retain(|v| v.as_str() != Some(id.as_str()));
            !a.is_empty()
        }
        _ => true,
    };
    if !keep {
        fields.remove(&r.field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CollectionKey, ItemId};
    use crate::schema::{parse_collection, CollectionSpec, OnDelete};
    use serde_json::json;

    fn notes(doc: serde_json::Value) -> Collection {
        let spec: CollectionSpec = serde_json::from_value(json!({"name": "Notes", "fields": [
            {"key": "title", "type": "text"}, doc
        ]}))
        .unwrap();
        parse_collection(
            CollectionKey::parse("notes").unwrap(),
            spec,
            "t".into(),
            "t".into(),
        )
        .unwrap()
    }

    fn stored(collection: &str, field: &str) -> OutRef {
        OutRef {
            collection: CollectionKey::parse(collection).unwrap(),
            id: ItemId::new(),
            field: field.into(),
            on_delete: OnDelete::Restrict,
        }
    }

    #[test]
    fn only_fields_still_referencing_the_same_collection_are_linked() {
        let doc = stored("secret_docs", "en.doc");
        let detach = notes(
            json!({"key": "doc", "type": "reference", "collection": "secret_docs", "on_delete": "detach"}),
        );
        let out = relinks(&detach, vec![doc.clone()]);
        assert_eq!(out.links.len(), 1);
        assert_eq!(out.links[0].on_delete, OnDelete::Detach, "today's mode");

        let text = notes(json!({"key": "doc", "type": "text"}));
        assert_eq!(relinks(&text, vec![doc.clone()]), Relinks::default());
        let removed = notes(json!({"key": "other", "type": "text"}));
        assert_eq!(relinks(&removed, vec![doc.clone()]), Relinks::default());

        let elsewhere = notes(json!({"key": "doc", "type": "reference", "collection": "notes"}));
        let out = relinks(&elsewhere, vec![doc.clone()]);
        assert!(out.links.is_empty());
        assert_eq!(out.dropped, vec![doc]);
    }
}
