//! Arbitrary query strings, headers and bodies (including bodies that are
//! not UTF-8, as API Gateway hands them base64-encoded) sent to every
//! endpoint of the table: never a panic, never a 5xx, always a JSON body
//! with a `detail` when refused.

use base64::Engine;
use folio::api::routes::ENDPOINTS;
use folio_tests::{folio, TestApp};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Case {
    endpoint: usize,
    collection: String,
    item: String,
    slash: bool,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

#[derive(Debug, Clone)]
enum Body {
    Text(String),
    Json(Value),
    Bytes(Vec<u8>),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        Just(String::new()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("9999-12-31T23:59:59-23:59".to_owned()),
        Just("1e400".to_owned()),
        Just("%ZZ".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
        Just(json!("01JF0000000000000000000000")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("key".to_owned()),
                    Just("status".to_owned()),
                    Just("fields".to_owned()),
                    Just("name".to_owned()),
                    Just("en".to_owned()),
                    Just("age".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn case(item: String) -> impl Strategy<Value = Case> {
    let query_key = prop_oneof![
        Just("page"),
        Just("page_size"),
        Just("levels"),
        Just("preview"),
        Just("locale"),
        Just("order"),
        Just("fields.name"),
        Just("fields.age"),
        Just("deleted_after"),
        Just("auth_token"),
        Just("keys"),
    ]
    .prop_map(str::to_owned);
    let header_name = prop_oneof![
        Just("if-match"),
        Just("if-none-match"),
        Just("idempotency-key"),
        Just("content-type"),
        Just("x-auth-token"),
    ]
    .prop_map(str::to_owned);
    (
        0..ENDPOINTS.len(),
        prop_oneof![
            6 => Just("team_members".to_owned()),
            1 => Just("nope".to_owned()),
            1 => text()
        ],
        prop_oneof![
            Just(item),
            Just(folio::ids::ItemId::new().to_string()),
            text()
        ],
        proptest::bool::weighted(0.9),
        proptest::collection::vec((prop_oneof![query_key, "[a-z.]{1,10}"], text()), 0..4),
        proptest::collection::vec((header_name, text()), 0..3),
        prop_oneof![
            Just(None),
            text().prop_map(|t| Some(Body::Text(t))),
            json_value().prop_map(|v| Some(Body::Json(v))),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| Some(Body::Bytes(b))),
        ],
    )
        .prop_map(
            |(endpoint, collection, item, slash, query, headers, body)| Case {
                endpoint,
                collection,
                item,
                slash,
                query,
                headers,
                body,
            },
        )
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The API Gateway (HTTP API, payload 2.0) event for a case.
fn event(c: &Case, token: &str) -> String {
    let e = &ENDPOINTS[c.endpoint];
    let mut path = e
        .route
        .pattern
        .replace("{collection_key}", &enc(&c.collection))
        .replace("{item_id}", &enc(&c.item));
    if !c.slash {
        path.pop();
    }
    let raw_query: Vec<String> = c
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let mut query = serde_json::Map::new();
    for (k, v) in &c.query {
        query.insert(k.clone(), json!(v));
    }
    let mut headers = serde_json::Map::new();
    headers.insert("authorization".into(), json!(format!("Token {token}")));
    for (k, v) in &c.headers {
        headers.insert(k.clone(), json!(v));
    }
    let (body, b64) = match &c.body {
        None => (Value::Null, false),
        Some(Body::Text(t)) => (json!(t), false),
        Some(Body::Json(v)) => (json!(v.to_string()), false),
        Some(Body::Bytes(b)) => (
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
            true,
        ),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query.join("&"),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "f0l10xmpl1", "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": e.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "fuzz"},
            "requestId": ulid::Ulid::new().to_string(), "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1795428000000u64
        },
        "isBase64Encoded": b64
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event.to_string()
}

#[test]
fn arbitrary_requests_to_every_endpoint_never_panic_or_fail_with_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(TestApp::spawn());
    let item = rt.block_on(t.create("team_members", "published", json!({"en": {"name": "Ada"}})));
    let cases: u32 = std::env::var("FOLIO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let served = std::sync::atomic::AtomicU32::new(0);
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(item), |c| {
            let text = event(&c, &t.token);
            let Ok(req) = lambda_http::request::from_str(&text) else {
                // Not an event API Gateway could deliver (e.g. a header the
                // http crate refuses): nothing reaches a handler.
                return Ok(());
            };
            let r = folio_tests::to_test_response(rt.block_on(folio_tests::dispatch(&t.app, req)));
            served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *statuses.lock().unwrap().entry(r.status).or_default() += 1;
            prop_assert!(r.status < 500, "{} for {c:?}: {:?}", r.status, r.body);
            if r.status >= 400 {
                prop_assert!(r.body["detail"].is_string(), "{c:?}: {:?}", r.body);
            }
            Ok(())
        })
        .unwrap();
    let served = served.into_inner();
    let statuses = statuses.into_inner().unwrap();
    eprintln!(
        "fuzz: {served} of {cases} generated requests reached a handler, across {} endpoints; statuses {statuses:?}",
        ENDPOINTS.len()
    );
    // Most cases must reach a handler, and not only to be refused.
    assert!(
        served * 10 >= cases * 8,
        "only {served} of {cases} cases were served"
    );
    assert!(statuses.keys().any(|s| *s < 300), "{statuses:?}");
}
