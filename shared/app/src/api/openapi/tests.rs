use super::constraints::TYPED;
use super::*;

#[test]
fn every_endpoint_is_one_operation_with_its_security() {
    let doc = document();
    for e in &ENDPOINTS {
        let op = &doc["paths"][e.route.pattern][e.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {}", e.method, e.route.pattern);
        let query = op["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("authToken").is_some());
        assert_eq!(query, e.route.query_token, "{}", e.function);
    }
    let ops: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .count()
        })
        .sum();
    assert_eq!(ops, ENDPOINTS.len());
}

#[test]
fn request_bodies_come_from_the_parsed_types() {
    let doc = document();
    let create = &doc["components"]["schemas"]["CreateBody"];
    assert_eq!(create["properties"]["fields"]["maxItems"], 25);
    assert_eq!(create["additionalProperties"], false, "deny_unknown_fields");
    let field = &doc["components"]["schemas"]["FieldSpec"];
    assert!(field["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("page_reference")));
    // Every $ref points at something defined.
    let text = serde_json::to_string(&doc).unwrap();
    for r in text.split("\"$ref\":\"#/components/").skip(1) {
        let path: Vec<&str> = r.split('"').next().unwrap().split('/').collect();
        assert!(
            doc["components"][path[0]][path[1]].is_object(),
            "{path:?} is not defined"
        );
    }
}

#[test]
fn each_pattern_is_what_its_parser_accepts() {
    use crate::ids::{CollectionKey, ItemId, Locale, Version, WebhookId};
    let matches = |pattern: &str, s: &str| regex_lite::Regex::new(pattern).unwrap().is_match(s);
    let long = "a".repeat(64);
    let longer = "a".repeat(65);
    for s in [
        "a",
        "team_members",
        "a_1",
        &long,
        &longer,
        "",
        "A",
        "1a",
        "a-b",
        "_a",
    ] {
        assert_eq!(
            matches(KEY_PATTERN, s),
            CollectionKey::parse(s).is_ok(),
            "{s}"
        );
        let order = format!("-{s}");
        assert_eq!(
            matches(ORDER_PATTERN, s),
            CollectionKey::parse(s).is_ok(),
            "{s}"
        );
        assert_eq!(
            matches(ORDER_PATTERN, &order),
            CollectionKey::parse(s).is_ok(),
            "{order}"
        );
    }
    let id = ItemId::new().to_string();
    let ids = [
        id.clone(),
        id.to_lowercase(),
        format!("8{}", &id[1..]),
        format!("{}I", &id[..25]),
        format!("{}U", &id[..25]),
        id[..25].to_owned(),
        format!("{id}0"),
    ];
    for s in &ids {
        assert_eq!(matches(ITEM_ID_PATTERN, s), ItemId::parse(s).is_ok(), "{s}");
    }
    let hook = format!("0{}", "a".repeat(63));
    let hook_long = format!("{hook}a");
    for s in [
        "site",
        "site-build_2",
        "0",
        &hook,
        &hook_long,
        "",
        "-a",
        "_a",
        "A",
    ] {
        assert_eq!(
            matches(WEBHOOK_ID_PATTERN, s),
            WebhookId::parse(s).is_ok(),
            "{s}"
        );
    }
    for s in [
        "en",
        "pt-br",
        "a1",
        "e",
        "EN",
        "1e",
        "abcdefghijklmnop",
        "abcdefghijklmnopq",
    ] {
        assert_eq!(matches(LOCALE_PATTERN, s), Locale::parse(s).is_ok(), "{s}");
    }
    let hook = WebhookId::parse("site").unwrap();
    assert!(matches(
        DELIVERY_ID_PATTERN,
        &crate::webhooks::delivery_id("e", &hook)
    ));
    // Every tag the pattern allows names a version; the forms clients
    // send are allowed.
    for s in [
        r#""3""#,
        r#"W/"3""#,
        r#""3-0a1b""#,
        "3",
        r#""""3"#,
        "+3",
        "9999999999999999999",
    ] {
        assert!(matches(IF_MATCH_PATTERN, s), "{s}");
        assert!(Version::from_if_match(s).is_some(), "{s}");
    }
    for s in ["*", r#""""#, "W/", "-3", r#""3"x"#, "99999999999999999999"] {
        assert!(!matches(IF_MATCH_PATTERN, s), "{s}");
    }
    let ten = "a,".repeat(9) + "a";
    for s in ["people", "a,b", &format!("a[_id={id}],b"), &ten] {
        assert!(matches(KEYS_PATTERN, s), "{s}");
    }
    let one_more = "a,".repeat(10) + "a";
    for s in ["", "a,", ",a", "a[", "a[_id=1]", "A", &one_more] {
        assert!(!matches(KEYS_PATTERN, s), "{s}");
    }
}

#[test]
fn each_field_type_takes_what_parse_collection_allows() {
    use crate::schema::{parse_collection, FieldSpec, OnDelete};
    let doc = document();
    let branches = doc["components"]["schemas"]["FieldSpec"]["oneOf"]
        .as_array()
        .unwrap();
    assert_eq!(
        branches.len(),
        FIELD_TYPES.len() + 1,
        "a reference is one or many"
    );
    for branch in branches {
        let kind = branch["properties"]["type"]["const"].as_str().unwrap();
        let base = FieldSpec {
            key: "f".into(),
            kind: kind.into(),
            options: (kind == "dropdown").then(|| vec!["a".into()]),
            collection: (kind == "reference").then(|| "team".into()),
            many: (branch["properties"]["many"]["const"] == true).then_some(true),
            ..FieldSpec::default()
        };
        let accepted = |f: FieldSpec| {
            let spec = CollectionSpec {
                name: "Team".into(),
                description: None,
                fields: vec![f],
            };
            let key = crate::ids::CollectionKey::parse("team").unwrap();
            parse_collection(key, spec, String::new(), String::new()).is_ok()
        };
        assert!(accepted(base.clone()), "{kind}");
        for property in TYPED {
            let mut f = base.clone();
            match property {
                "options" => f.options = Some(vec!["b".into()]),
                "collection" => f.collection = Some("team".into()),
                "many" => f.many = Some(base.many.unwrap_or(false)),
                "on_delete" => f.on_delete = Some(OnDelete::Detach),
                "min_length" => f.min_length = Some(1),
                "max_length" => f.max_length = Some(1),
                "pattern" => f.pattern = Some("a".into()),
                "min" => f.min = Some(1.0),
                "max" => f.max = Some(1.0),
                other => unreachable!("{other}"),
            }
            let takes = branch["properties"][property] != json!({"type": "null"});
            assert_eq!(accepted(f), takes, "{} {property}", branch["title"]);
        }
        let indexable = branch["properties"]["indexed"] != json!({"const": false});
        let f = FieldSpec {
            indexed: true,
            ..base
        };
        assert_eq!(accepted(f), indexable, "{} indexed", branch["title"]);
    }
}

#[test]
fn the_committed_openapi_yaml_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == yaml(),
        "openapi.yaml is out of date: run `make openapi` and commit it"
    );
}
