//! Races run for real against DynamoDB Local; outages are made by pointing
//! an endpoint at a closed port.

use std::time::Duration;

use folio::App;
use folio_tests::{folio, TestApp};
use serde_json::json;

#[tokio::test]
async fn concurrent_deletes_of_one_item_give_exactly_one_204() {
    let t = TestApp::spawn().await;
    for _round in 0..10 {
        let id = t
            .create("team_members", "published", json!({"en": {"name": "Ada"}}))
            .await;
        let path = format!("/v2/content/team_members/{id}/");
        let results =
            futures::future::join_all((0..8).map(|_| t.request("DELETE", &path, None))).await;
        let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(statuses, vec![204, 404, 404, 404, 404, 404, 404, 404]);
    }
    let deletes = t
        .drain_events()
        .await
        .into_iter()
        .filter(|e| e.kind == folio::events::EventType::Delete)
        .count();
    assert_eq!(deletes, 10, "one delete event per item");
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_all_survive() {
    let t = TestApp::spawn_with(&[]).await;
    let fields: Vec<_> = (0..12)
        .map(|i| json!({"key": format!("f{i}"), "type": "number"}))
        .collect();
    assert_eq!(
        t.put_collection("wide", json!({"name": "Wide", "fields": fields}))
            .await
            .status,
        201
    );
    let id = t.create("wide", "published", json!({})).await;
    let path = format!("/v2/content/wide/{id}/");
    let results = futures::future::join_all((0..12).map(|i| {
        let path = path.clone();
        let t = &t;
        async move {
            t.request(
                "PATCH",
                &path,
                Some(json!({"fields": {format!("f{i}"): i}})),
            )
            .await
        }
    }))
    .await;
    assert!(
        results.iter().all(|r| r.status == 202),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let mut versions: Vec<i64> = results
        .iter()
        .map(|r| r.body["meta"]["version"].as_i64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        (2..=13).collect::<Vec<_>>(),
        "each patch got its own version"
    );
    let got = t.request("GET", &path, None).await;
    for i in 0..12 {
        assert_eq!(
            got.body[format!("f{i}")],
            json!(i),
            "field f{i} lost: {:?}",
            got.body
        );
    }
}

/// An app whose `which` endpoint ("dynamodb" or "sqs") points at a port
/// nothing listens on.
async fn app_with_closed(t: &TestApp, which: &str) -> App {
    // Bound then dropped: connections to it are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");
    let mut ddb = aws_sdk_dynamodb::config::Builder::from(&t.sdk);
    let mut sqs = aws_sdk_sqs::config::Builder::from(&t.sdk);
    match which {
        "dynamodb" => ddb = ddb.endpoint_url(&url),
        _ => sqs = sqs.endpoint_url(&url),
    }
    let config = folio_tests::test_config(&t.table, &t.queue_url);
    App::from_clients(
        aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        aws_sdk_sqs::Client::from_conf(sqs.build()),
        config,
    )
}

#[tokio::test]
async fn a_write_while_sqs_is_unreachable_still_succeeds_cleanly() {
    let t = TestApp::spawn().await;
    let app = app_with_closed(&t, "sqs").await;
    let event = folio_tests::api_event(
        "POST",
        "/v2/content/",
        Some(json!({"key": "team_members", "status": "published", "fields": [{"en": {"name": "Ada"}}]}).to_string()),
        Some(&t.token),
        &[],
    );
    let started = std::time::Instant::now();
    let r = folio_tests::to_test_response(
        folio_tests::dispatch(&app, lambda_http::request::from_str(&event).unwrap()).await,
    );
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a dead queue must not hang the request"
    );
    let id = r.body["items"][0]["meta"]["id"].as_str().unwrap();
    let got = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(
        got.status, 200,
        "the write is durable whatever the queue does"
    );
}

#[tokio::test]
async fn a_dynamodb_outage_is_a_500_that_leaks_nothing() {
    let t = TestApp::spawn().await;
    let app = app_with_closed(&t, "dynamodb").await;
    // A fresh token: the outage app has nothing cached.
    let event = folio_tests::api_event(
        "GET",
        "/v2/content/team_members/",
        None,
        Some(&t.token),
        &[],
    );
    let r = folio_tests::to_test_response(
        folio_tests::dispatch(&app, lambda_http::request::from_str(&event).unwrap()).await,
    );
    assert_eq!(r.status, 500);
    assert_eq!(r.detail(), "Internal error");
    assert!(r.body["request_id"].is_string());
    assert_eq!(r.body.as_object().unwrap().len(), 2, "{:?}", r.body);
}
