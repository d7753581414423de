//! Races run for real against DynamoDB Local; outages are made by pointing
//! an endpoint at a closed port or at a listener that never answers. (SQS
//! outages: `pipeline.rs`.)

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
        .filter(|e| e.kind == folio::event::EventType::Delete)
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

/// An app whose DynamoDB endpoint is a closed port.
fn app_without_dynamodb(t: &TestApp) -> App {
    let ddb =
        aws_sdk_dynamodb::config::Builder::from(&t.sdk).endpoint_url(folio_tests::closed_port());
    App::from_clients(
        aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        folio_tests::test_config(&t.table),
    )
}

#[tokio::test]
async fn a_dynamodb_outage_is_a_500_that_leaks_nothing() {
    let t = TestApp::spawn().await;
    let app = app_without_dynamodb(&t);
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

#[tokio::test]
async fn a_hanging_dynamodb_is_a_500_within_the_function_timeout() {
    let t = TestApp::spawn().await;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    // The production timeouts, whatever the local run sets.
    let sdk = folio::aws::sdk_config_with(folio::aws::Timeouts::default()).await;
    let ddb = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(url);
    let app = App::from_clients(
        aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        folio_tests::test_config(&t.table),
    );
    let event = folio_tests::api_event(
        "GET",
        "/v2/content/team_members/",
        None,
        Some(&t.token),
        &[],
    );
    let started = std::time::Instant::now();
    let r = folio_tests::to_test_response(
        folio_tests::dispatch(&app, lambda_http::request::from_str(&event).unwrap()).await,
    );
    let took = started.elapsed();
    hold.abort();
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert_eq!(r.detail(), "Internal error");
    assert!(
        took >= folio::aws::Timeouts::default().attempt && took < Duration::from_secs(10),
        "{took:?}: bounded by the SDK timeouts, inside the function's 10 s"
    );
}
