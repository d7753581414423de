//! The real function binaries, started as Lambda starts them: against a
//! Runtime API (our stub) with an event from `events/`.

use std::time::Duration;

use folio_tests::runtime::{spawn_function, RuntimeStub};
use folio_tests::{binary, event_text, folio, TestApp};
use serde_json::{json, Value};

/// Starts `function`'s binary against a Runtime API stub holding
/// `events`, and returns its responses, parsed.
async fn invoke(t: &TestApp, function: &str, events: Vec<String>) -> Vec<Value> {
    let n = events.len();
    let stub = RuntimeStub::start(events).await;
    let mut child = spawn_function(&binary(function), stub.addr, &t.function_env());
    let result = stub.wait_for(n, Duration::from_secs(60)).await;
    child.kill().ok();
    child.wait().ok();
    result
        .unwrap_or_else(|e| panic!("{function}: {e}"))
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect()
}

#[tokio::test]
async fn the_relay_binary_turns_a_stream_event_from_events_into_one_queued_event() {
    let t = TestApp::spawn().await;
    t.drain_events().await;
    // An INSERT (an event) and a counter change that keeps the version (none).
    let r = invoke(&t, "relay", vec![event_text("relay-item-published.json")]).await;
    assert_eq!(r[0]["batchItemFailures"], json!([]), "{r:?}");
    let events = t.drain_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, folio::event::EventType::Published);
    assert_eq!(events[0].version, 1);
    assert_eq!(events[0].item_id.to_string(), "01JF0000000000000000000000");
}

#[tokio::test]
async fn the_relay_binary_turns_a_delete_and_a_ttl_removal_into_delete_and_purge_events() {
    let t = TestApp::spawn().await;
    t.drain_events().await;
    let r = invoke(
        &t,
        "relay",
        vec![event_text("relay-item-deleted-and-purged.json")],
    )
    .await;
    assert_eq!(r[0]["batchItemFailures"], json!([]), "{r:?}");
    let mut events: Vec<(folio::event::EventType, u64)> = t
        .drain_events()
        .await
        .into_iter()
        .map(|e| (e.kind, e.version))
        .collect();
    events.sort();
    use folio::event::EventType::{Delete, Purge};
    assert_eq!(events, vec![(Delete, 2), (Purge, 2)]);
}

#[tokio::test]
async fn the_worker_binary_runs_the_jobs_of_sqs_events_from_events_and_fails_only_the_poison() {
    let t = TestApp::spawn().await;
    let responses = invoke(
        &t,
        "worker",
        vec![
            event_text("worker-detach-cleanup.json"),
            event_text("worker-batch-with-poison.json"),
            event_text("worker-index-build.json"),
        ],
    )
    .await;
    assert_eq!(
        responses[0]["batchItemFailures"],
        json!([]),
        "{responses:?}"
    );
    // A build message is no poison: read, and done (no such definition).
    assert_eq!(
        responses[2]["batchItemFailures"],
        json!([]),
        "{responses:?}"
    );
    let message: folio::events::worker::Message = serde_json::from_str(
        serde_json::from_str::<Value>(&event_text("worker-detach-cleanup.json")).unwrap()
            ["Records"][0]["body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let job = t
        .app
        .store
        .job(&message.event.event_id, "detach_cleanup")
        .await
        .unwrap();
    assert_eq!(
        job.map(|j| (j.done, j.runs)),
        Some((true, 1)),
        "the cleanup ran and is recorded"
    );
    let poison = &responses[1];
    assert_eq!(
        poison["batchItemFailures"],
        json!([{"itemIdentifier": "7f3a1c52-0002-4c1e-9d4e-000000000002"}]),
        "{poison}"
    );
}

#[tokio::test]
async fn the_delete_item_binary_serves_an_api_gateway_event_from_events() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    t.drain_events().await;
    let event = event_text("delete-item.json")
        .replace("folio_EXAMPLE_TOKEN", &t.token)
        .replace("01JF0000000000000000000000", &id);
    let missing = event_text("delete-item-missing.json").replace("folio_EXAMPLE_TOKEN", &t.token);
    let stub = RuntimeStub::start(vec![event, missing]).await;
    let mut child = spawn_function(&binary("delete-item"), stub.addr, &t.function_env());
    let result = stub.wait_for(2, Duration::from_secs(60)).await;
    child.kill().ok();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let responses = result.unwrap_or_else(|e| panic!("{e}\nfunction output:\n{logs}"));

    let first: Value = serde_json::from_str(&responses[0]).unwrap();
    assert_eq!(first["statusCode"], 204, "{first}");
    let second: Value = serde_json::from_str(&responses[1]).unwrap();
    assert_eq!(second["statusCode"], 404);
    let body: Value = serde_json::from_str(second["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"detail": "Not found."}));

    assert!(t
        .stored("team_members", &id)
        .await
        .unwrap()
        .deleted_at
        .is_some());
    assert_eq!(t.drain_events().await.len(), 1);
    // JSON logs, and the token never in them.
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("\"request_id\"")),
        "{logs}"
    );
    assert!(!logs.contains(&t.token), "a token reached the logs");
}

#[tokio::test]
async fn every_function_binary_starts_and_answers_401_without_a_token() {
    let t = TestApp::spawn().await;
    for (function, file) in folio_tests::function_events() {
        let event = event_text(&file).replace("Token folio_EXAMPLE_TOKEN", "Token folio_unknown");
        let stub = RuntimeStub::start(vec![event]).await;
        let mut child = spawn_function(&binary(function), stub.addr, &t.function_env());
        let result = stub.wait_for(1, Duration::from_secs(60)).await;
        child.kill().ok();
        child.wait().ok();
        let responses = result.unwrap_or_else(|e| panic!("{function}: {e}"));
        let r: Value = serde_json::from_str(&responses[0]).unwrap();
        assert_eq!(r["statusCode"], 401, "{function}: {r}");
    }
}

#[tokio::test]
async fn the_deliver_binary_signs_and_sends_the_delivery_from_events() {
    use folio_local::receiver::{always, Receiver};
    let t = TestApp::spawn().await;
    let receiver = Receiver::start(always(200)).await.unwrap();
    let r = t
        .request(
            "PUT",
            "/v2/webhooks/site-build/",
            Some(json!({"url": receiver.url, "events": ["collectionitem.*"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    receiver.verify_with(r.body["secret"].as_str().unwrap());
    let event = event_text("deliver-webhook.json")
        .replace(r#"\"org\":\"demo\""#, &format!(r#"\"org\":\"{}\""#, t.org));
    assert!(
        event.contains(t.org.as_str()),
        "the event names the test org"
    );
    let responses = invoke(&t, "deliver", vec![event]).await;
    assert_eq!(
        responses[0]["batchItemFailures"],
        json!([]),
        "{responses:?}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].verified, Some(true));
    assert_eq!(
        got[0].json()["data"]["event_id"],
        "1b0e6a3f9c2d48e7a5f0c3d2e1b4a697"
    );
}

#[tokio::test]
async fn a_function_started_with_a_malformed_setting_stops_and_names_it() {
    let t = TestApp::spawn().await;
    let closed: std::net::SocketAddr = folio_tests::closed_port()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    for (function, name, value) in [
        ("worker", "FOLIO_JOB_LEASE_SECONDS", "ninety"),
        ("deliver", "FOLIO_WEBHOOK_TIMEOUT_SECONDS", "-1"),
        ("get-item", "FOLIO_MEMORY_LIST_MAX_ITEMS", "lots"),
        ("put-webhook", "FOLIO_WEBHOOKS_PER_ORG", "5000000000"),
        ("relay", "FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS", "soon"),
    ] {
        let mut env = t.function_env();
        env.push((name.to_owned(), value.to_owned()));
        let child = spawn_function(&binary(function), closed, &env);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{function} started: {text}");
        assert!(text.contains(name), "{function}: {text}");
    }
}
