//! What the server checks that the types alone do not state: the patterns
//! of ids, keys and headers, each field type's settings, webhook events.

use serde_json::{json, Map, Value};

use crate::schema::{FIELD_TYPES, MAX_OPTIONS, MAX_OPTION_CHARS};

// The static shapes the server parses (`ids`, `api::read`, `api::update`),
// as JSON Schema patterns; a test holds each to its parser.
macro_rules! key {
    () => {
        "[a-z][a-z0-9_]{0,63}"
    };
}
macro_rules! item_id {
    () => {
        "[0-7][0-9A-HJKMNP-TV-Z]{25}"
    };
}
macro_rules! keys_part {
    () => {
        concat!(key!(), r"(\[_id=", item_id!(), r"\])?")
    };
}
pub(super) const KEY_PATTERN: &str = concat!("^", key!(), "$");
/// `a`, `a,b` (at most `read::MAX_KEYS`), any of them as `a[_id=<id>]`.
pub(super) const KEYS_PATTERN: &str = concat!("^", keys_part!(), "(,", keys_part!(), "){0,9}$");
/// A ULID in its canonical spelling.
pub(super) const ITEM_ID_PATTERN: &str = concat!("^", item_id!(), "$");
pub(super) const WEBHOOK_ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
pub(super) const DELIVERY_ID_PATTERN: &str = "^msg_[0-9a-f]{32}$";
pub(super) const LOCALE_PATTERN: &str = "^[a-z][a-z0-9-]{1,15}$";
pub(super) const ORDER_PATTERN: &str = concat!("^-?", key!(), "$");
/// What `Version::from_if_match` reads: a version, in quotes or not, weak
/// or not, with or without a read tag's `-<digest>`.
pub(super) const IF_MATCH_PATTERN: &str = r#"^(W/)?"*\+?[0-9]{1,19}("*|-[!-~]*)$"#;

/// Field properties that only some types take (`schema::parse_collection`).
pub(super) const TYPED: [&str; 9] = [
    "options",
    "collection",
    "many",
    "on_delete",
    "min_length",
    "max_length",
    "pattern",
    "min",
    "max",
];

/// What each field type takes besides `key`, `type`, `label` and
/// `required`, one `oneOf` branch per type: a property of other types is
/// absent or null, and `indexed` is true only on an indexable type (a
/// reference holding many is not).
pub(super) fn field_rules() -> Value {
    let takes = |kind: &str| -> &'static [&'static str] {
        match kind {
            "text" | "long_text" | "html" => &["min_length", "max_length", "pattern"],
            "number" => &["min", "max"],
            "dropdown" => &["options"],
            "reference" => &["collection", "many", "on_delete"],
            "page_reference" => &["many"],
            _ => &[],
        }
    };
    let indexable = |kind: &str| {
        matches!(
            kind,
            "text" | "number" | "boolean" | "date" | "datetime" | "dropdown" | "reference"
        )
    };
    let mut branches = Vec::new();
    for kind in FIELD_TYPES {
        let mut properties = Map::new();
        properties.insert("type".into(), json!({"const": kind}));
        for p in TYPED.iter().filter(|p| !takes(kind).contains(p)) {
            properties.insert((*p).into(), json!({"type": "null"}));
        }
        if !indexable(kind) {
            properties.insert("indexed".into(), json!({"const": false}));
        }
        let mut branch = json!({"title": kind, "type": "object", "properties": properties});
        match kind {
            "dropdown" => {
                branch["properties"]["options"] = json!({
                    "type": "array", "minItems": 1, "maxItems": MAX_OPTIONS, "uniqueItems": true,
                    "items": {"type": "string", "minLength": 1, "maxLength": MAX_OPTION_CHARS}});
                branch["required"] = json!(["options"]);
            }
            "reference" => {
                branch["properties"]["collection"] = json!({"type": "string"});
                branch["required"] = json!(["collection"]);
                // One reference or many; only one is indexable.
                let mut many = branch.clone();
                branch["title"] = json!("reference (one)");
                branch["properties"]["many"] = json!({"enum": [false, null]});
                many["title"] = json!("reference (many)");
                many["properties"]["many"] = json!({"const": true});
                many["properties"]["indexed"] = json!({"const": false});
                many["required"] = json!(["collection", "many"]);
                branches.push(branch);
                branch = many;
            }
            _ => {}
        }
        branches.push(branch);
    }
    Value::Array(branches)
}

/// Every event type an endpoint may name, and `collectionitem.*`.
pub(super) fn event_names() -> Vec<&'static str> {
    use crate::event::EventType::*;
    let mut names = vec![crate::webhooks::ALL_EVENTS];
    names.extend(
        [
            Draft,
            Published,
            Unpublished,
            Delete,
            Restore,
            Purge,
            ScheduleFailed,
        ]
        .map(|e| e.as_str()),
    );
    names
}
