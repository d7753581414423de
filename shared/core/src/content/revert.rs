//! A revert's content: an earlier version's stored values, as a replace
//! (PUT) of the item would send them today, so that they are checked
//! against the current schema exactly as a PUT's are (`validate_full`).
//! What the schema (or the organization's locales) no longer has cannot be
//! sent, so it is left out and named.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::schema::{Collection, Org};

/// A version's values in a PUT's request shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RevertInput {
    /// `{"name": …}`, or `{"en": {"name": …}}` in a localized org.
    pub input: Value,
    /// What was left out: the key of each field the collection no longer
    /// has, and the storage key (`fr.name`) of a value in a locale the
    /// organization no longer has.
    pub dropped: BTreeSet<String>,
}

/// `fields` (a version's values by storage key: `name`, `en.name`) as the
/// body of a PUT to `collection` today.
pub fn revert_input(
    org: &Org,
    collection: &Collection,
    fields: &BTreeMap<String, Value>,
) -> RevertInput {
    let mut input = Map::new();
    let mut dropped = BTreeSet::new();
    for (key, value) in fields {
        // A storage key is `field` or `locale.field`; field keys hold no dot.
        let (locale, field) = match key.split_once('.') {
            Some((l, f)) => (Some(l), f),
            None => (None, key.as_str()),
        };
        if collection.field(field).is_none() {
            dropped.insert(field.to_owned());
            continue;
        }
        let known = |l: &str| org.locales.iter().any(|k| k.as_str() == l);
        match (org.is_localized(), locale) {
            (false, None) => {
                input.insert(field.to_owned(), value.clone());
            }
            (true, Some(l)) if known(l) => {
                let block = input
                    .entry(l.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(block) = block {
                    block.insert(field.to_owned(), value.clone());
                }
            }
            // A locale no longer the organization's, or a value stored
            // before the organization gained or lost its locales.
            _ => {
                dropped.insert(key.clone());
            }
        }
    }
    RevertInput {
        input: Value::Object(input),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::validate_full;
    use crate::error::FieldErrors;
    use crate::ids::{CollectionKey, Locale, OrgId};
    use crate::schema::{parse_collection, CollectionSpec};
    use serde_json::json;

    fn people() -> Collection {
        let spec: CollectionSpec = serde_json::from_value(json!({"name": "People", "fields": [
            {"key": "name", "type": "text", "required": true},
            {"key": "age", "type": "number"}
        ]}))
        .unwrap();
        let key = CollectionKey::parse("people").unwrap();
        parse_collection(key, spec, "t".into(), "t".into()).unwrap()
    }

    fn org(locales: &[&str]) -> Org {
        let locales: Vec<Locale> = locales.iter().map(|l| Locale::parse(l).unwrap()).collect();
        Org {
            id: OrgId::parse("acme").unwrap(),
            default_locale: locales.first().cloned(),
            locales,
        }
    }

    fn fields(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_version_reads_back_as_the_put_that_would_store_it() {
        let (people, plain) = (people(), org(&[]));
        let stored = fields(json!({"name": "Ada", "age": 36, "role": "eng"}));
        let r = revert_input(&plain, &people, &stored);
        assert_eq!(r.input, json!({"name": "Ada", "age": 36}));
        assert_eq!(r.dropped, BTreeSet::from(["role".to_owned()]));
        let mut errors = FieldErrors::new();
        let v = validate_full(&plain, &people, &r.input, "", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let mut kept = stored.clone();
        kept.remove("role");
        assert_eq!(v.values, kept, "stored again exactly as it was");

        let localized = org(&["en", "es"]);
        let stored = fields(json!({
            "en.name": "Ada", "es.name": "Ada", "en.age": 36,
            "en.role": "eng", "es.role": "ing", "fr.name": "Ada"
        }));
        let r = revert_input(&localized, &people, &stored);
        assert_eq!(
            r.input,
            json!({"en": {"name": "Ada", "age": 36}, "es": {"name": "Ada"}})
        );
        assert_eq!(
            r.dropped,
            BTreeSet::from(["fr.name".to_owned(), "role".to_owned()])
        );
        let v = validate_full(&localized, &people, &r.input, "", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v.values.len(), 3);
        assert_eq!(v.values["es.name"], "Ada");
    }
}
