use super::*;

#[test]
fn every_listed_field_type_parses_to_itself() {
    for name in FIELD_TYPES {
        let f = FieldSpec {
            key: "f".into(),
            kind: name.into(),
            options: (name == "dropdown").then(|| vec!["a".into()]),
            collection: (name == "reference").then(|| "people".into()),
            ..FieldSpec::default()
        };
        assert_eq!(parse_kind(&f).map(|k| k.name()), Ok(name));
    }
}

fn spec(json: serde_json::Value) -> CollectionSpec {
    serde_json::from_value(json).unwrap()
}

fn key() -> CollectionKey {
    CollectionKey::parse("team_members").unwrap()
}

#[test]
fn a_full_schema_round_trips_through_its_spec() {
    let s = spec(serde_json::json!({"name": "Team", "fields": [
        {"key": "name", "type": "text", "required": true, "max_length": 100, "pattern": "^[A-Z]"},
        {"key": "role", "type": "dropdown", "options": ["a", "b"]},
        {"key": "manager", "type": "reference", "collection": "team_members", "on_delete": "detach"},
        {"key": "age", "type": "number", "min": 0.0}
    ]}));
    let c = parse_collection(key(), s, "t".into(), "t".into()).unwrap();
    let specs = serde_json::to_value(c.specs()).unwrap();
    assert_eq!(specs[0]["max_length"], 100);
    assert_eq!(specs[1]["options"][1], "b");
    assert_eq!(specs[2]["on_delete"], "detach");
    assert_eq!(specs[2]["many"], false);
    assert_eq!(c.referenced_collections().count(), 1);
}

#[test]
fn oversized_schemas_are_refused_before_any_write() {
    let long = "x".repeat(420 * 1024);
    let s = spec(
        serde_json::json!({"name": "T", "description": long, "fields": [
            {"key": "a", "type": "text", "label": "y".repeat(201)},
            {"key": "b", "type": "dropdown", "options": ["z".repeat(201)]},
            {"key": "c", "type": "dropdown", "options": (0..201).map(|i| i.to_string()).collect::<Vec<_>>()}
        ]}),
    );
    let Err(Error::Invalid(errors)) = parse_collection(key(), s, "t".into(), "t".into()) else {
        panic!("expected validation errors");
    };
    for k in [
        "description",
        "fields[0].label",
        "fields[1].options",
        "fields[2].options",
    ] {
        assert!(errors.contains_key(k), "missing {k} in {errors:?}");
    }
    // Each part within its bound, the whole past 64 KB: 413.
    let fields: Vec<_> = (0..100)
        .map(|i| {
            serde_json::json!({"key": format!("f{i}"), "type": "dropdown",
            "options": (0..10).map(|j| format!("{j}{}", "o".repeat(100))).collect::<Vec<_>>()})
        })
        .collect();
    let s = spec(serde_json::json!({"name": "T", "fields": fields}));
    let Err(e @ Error::TooLarge(_)) = parse_collection(key(), s, "t".into(), "t".into()) else {
        panic!("expected 413");
    };
    assert_eq!(e.status(), 413);
}

#[test]
fn every_schema_problem_is_reported_by_position() {
    let s = spec(serde_json::json!({"name": "", "fields": [
        {"key": "Bad Key", "type": "text"},
        {"key": "colour", "type": "colour"},
        {"key": "role", "type": "dropdown"},
        {"key": "age", "type": "number", "max_length": 3},
        {"key": "x", "type": "text", "pattern": "("},
        {"key": "x", "type": "text"}
    ]}));
    let Err(Error::Invalid(errors)) = parse_collection(key(), s, "t".into(), "t".into()) else {
        panic!("expected validation errors");
    };
    for k in [
        "name",
        "fields[0].key",
        "fields[1].type",
        "fields[2].options",
        "fields[3].type",
        "fields[4].pattern",
        "fields[5].key",
    ] {
        assert!(errors.contains_key(k), "missing {k} in {errors:?}");
    }
}
