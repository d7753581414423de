//! Unit tests of `validate`: each message once, the limits before the work.

use super::*;
use crate::ids::OrgId;
use crate::schema::{parse_collection, CollectionSpec};
use serde_json::json;

fn collection() -> Collection {
    let spec: CollectionSpec = serde_json::from_value(json!({"name": "Team", "fields": [
        {"key": "name", "type": "text", "required": true, "max_length": 5},
        {"key": "age", "type": "number", "min": 0.0},
        {"key": "role", "type": "dropdown", "options": ["engineer"]},
        {"key": "photo", "type": "media"},
        {"key": "started", "type": "date"},
        {"key": "manager", "type": "reference", "collection": "team_members"},
        {"key": "peers", "type": "reference", "collection": "team_members", "many": true, "on_delete": "detach"}
    ]}))
    .unwrap();
    parse_collection(
        CollectionKey::parse("team_members").unwrap(),
        spec,
        "t".into(),
        "t".into(),
    )
    .unwrap()
}

fn org(locales: &[&str]) -> Org {
    Org {
        id: OrgId::parse("acme").unwrap(),
        locales: locales.iter().map(|l| Locale::parse(l).unwrap()).collect(),
        default_locale: locales.first().map(|l| Locale::parse(l).unwrap()),
    }
}

#[test]
fn every_bad_value_is_named_once() {
    let mut errors = FieldErrors::new();
    let input = json!({"age": "old", "role": "pilot", "photo": "ftp://x", "started": "2024-13-01", "colour": "blue"});
    validate_full(&org(&[]), &collection(), &input, "", &mut errors);
    assert_eq!(errors["name"], vec!["This field is required."]);
    assert_eq!(errors["age"], vec!["A valid number is required."]);
    assert_eq!(errors["role"], vec!["\"pilot\" is not a valid choice."]);
    assert!(errors.contains_key("photo") && errors.contains_key("started"));
    assert_eq!(errors["colour"], vec!["Unknown field."]);
}

#[test]
fn localized_values_nest_by_locale_and_need_the_default() {
    let mut errors = FieldErrors::new();
    let out = validate_full(
        &org(&["en", "es"]),
        &collection(),
        &json!({"es": {"name": "Ada"}}),
        "",
        &mut errors,
    );
    assert_eq!(errors["en.name"], vec!["This field is required."]);
    assert_eq!(out.values["es.name"], json!("Ada"));

    let mut errors = FieldErrors::new();
    validate_full(
        &org(&["en"]),
        &collection(),
        &json!({"fr": {"name": "Ada"}, "en": {"name": "Ada"}}),
        "",
        &mut errors,
    );
    assert!(errors.contains_key("fr"), "{errors:?}");
}

#[test]
fn references_are_typed_and_deduplicated() {
    let a = ItemId::new();
    let mut errors = FieldErrors::new();
    let out = validate_full(
        &org(&[]),
        &collection(),
        &json!({"name": "Ada", "manager": a.to_string(), "peers": [a.to_string(), a.to_string()]}),
        "",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(out.refs.len(), 2);
    assert_eq!(out.values["peers"], json!([a.to_string()]));
    assert_eq!(
        OutRef::decode(&out.refs[0].encode()),
        Some(out.refs[0].clone())
    );

    let mut errors = FieldErrors::new();
    validate_full(
        &org(&[]),
        &collection(),
        &json!({"name": "Ada", "manager": "nope"}),
        "",
        &mut errors,
    );
    assert_eq!(errors["manager"], vec!["This value does not exist."]);
}

#[test]
fn numbers_dynamodb_cannot_hold_are_refused() {
    for bad in [json!(1e200), json!(-1e200), json!(1e-200), json!(1e126)] {
        let mut errors = FieldErrors::new();
        validate_full(
            &org(&[]),
            &collection(),
            &json!({"name": "Ada", "age": bad}),
            "",
            &mut errors,
        );
        let msg = errors
            .get("age")
            .and_then(|m| m.first())
            .cloned()
            .unwrap_or_default();
        assert!(msg.contains("magnitude"), "{bad}: {errors:?}");
    }
    for good in [
        json!(0),
        json!(1e125),
        json!(1e-130),
        json!(u64::MAX),
        json!(36.5),
    ] {
        let mut errors = FieldErrors::new();
        validate_full(
            &org(&[]),
            &collection(),
            &json!({"name": "Ada", "age": good}),
            "",
            &mut errors,
        );
        assert!(errors.is_empty(), "{good}: {errors:?}");
    }
}

#[test]
fn more_values_than_a_collection_can_have_are_one_error() {
    let many: Map<String, Value> = (0..=MAX_FIELDS)
        .map(|i| (format!("u{i}"), Value::from(i)))
        .collect();
    let mut errors = FieldErrors::new();
    validate_full(
        &org(&[]),
        &collection(),
        &Value::Object(many.clone()),
        "",
        &mut errors,
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors["fields"][0].contains("101"), "{errors:?}");
    let mut errors = FieldErrors::new();
    let nested = serde_json::json!({"en": many.clone()});
    validate_patch(&org(&["en"]), &collection(), &nested, &mut errors);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors.contains_key("en"), "{errors:?}");
    let mut errors = FieldErrors::new();
    validate_full(
        &org(&["en"]),
        &collection(),
        &Value::Object(many),
        "",
        &mut errors,
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors["fields"][0].contains("nested by locale"),
        "{errors:?}"
    );
}

#[test]
fn a_patch_may_clear_optional_fields_but_not_required_ones() {
    let mut errors = FieldErrors::new();
    let p = validate_patch(
        &org(&[]),
        &collection(),
        &json!({"age": null, "manager": ""}),
        &mut errors,
    );
    assert!(errors.is_empty());
    assert_eq!(p.changes["age"], None);
    assert_eq!(p.refs["manager"], vec![]);

    let mut errors = FieldErrors::new();
    validate_patch(
        &org(&[]),
        &collection(),
        &json!({"name": null}),
        &mut errors,
    );
    assert_eq!(errors["name"], vec!["This field is required."]);
}

proptest::proptest! {
    #[test]
    fn validation_never_panics_on_arbitrary_json(s in "\\PC{0,200}") {
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            let mut errors = FieldErrors::new();
            validate_full(&org(&["en"]), &collection(), &v, "", &mut errors);
            validate_patch(&org(&[]), &collection(), &v, &mut errors);
        }
    }
}
