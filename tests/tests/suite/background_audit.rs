//! One test per finding of the outside audit (issue 23) on the background
//! pipeline, each failing on the code before the fix: a manual webhook
//! retry delivered twice, failure logs without their cause, and dead
//! letters too large for one `SendMessageBatch`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use folio::event::{Event, EventType};
use folio::events::deliver::{Deliverer, DeliveryMessage};
use folio::ids::{CollectionKey, ItemId};
use folio::store::jobs::Claim;
use folio_local::receiver::{Answer, Receiver};
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

/// A receiver answering 500, then nothing (the sender times out: an
/// attempt in flight, then failed), then 200 to everything after.
async fn failing_then_slow_then_up() -> Receiver {
    Receiver::start(Arc::new(|n| match n {
        0 => Answer::Status(500),
        1 => Answer::Hang,
        _ => Answer::Status(200),
    }))
    .await
    .unwrap()
}

/// The requests that got a 2xx from `failing_then_slow_then_up`.
fn delivered(r: &Receiver) -> usize {
    r.count().saturating_sub(2)
}

/// Registers `id`, creates an item and runs the pipeline until the first
/// attempt of its delivery has failed; the delivery message, back on its
/// queue after a backoff of 0.5–1 s, and the delivery's id.
async fn first_attempt_failed(t: &TestApp, id: &str, receiver: &Receiver) -> String {
    let r = t
        .request(
            "PUT",
            &format!("/v2/webhooks/{id}/"),
            Some(json!({"url": receiver.url, "events": ["collectionitem.*"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    t.create(
        "team_members",
        "published",
        json!({"en": {"name": "Twice?"}}),
    )
    .await;
    t.deliver_until(Duration::from_secs(30), || receiver.count() > 0)
        .await;
    receiver.received()[0].webhook_id().to_owned()
}

async fn manual_retry(t: &TestApp, hook: &str, delivery: &str) -> folio_tests::TestResponse {
    t.request(
        "POST",
        &format!("/v2/webhooks/{hook}/deliveries/{delivery}/retry/"),
        None,
    )
    .await
}

/// Waits until `receiver` has seen `n` requests.
async fn until_received(receiver: &Receiver, n: usize) {
    let until = Instant::now() + Duration::from_secs(10);
    while receiver.count() < n {
        assert!(Instant::now() < until, "request {n} never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The audit's sequence: a receiver answering 500, then 500 late; a manual
/// retry while the queued attempt is in flight. It used to deliver, and
/// the queued attempt, failing after it, reopened the delivery, which the
/// queue then made again.
#[tokio::test]
async fn a_manual_retry_beside_a_queued_attempt_in_flight_is_409_and_the_delivery_is_made_once() {
    let t = TestApp::spawn().await;
    let receiver = failing_then_slow_then_up().await;
    let id = first_attempt_failed(&t, "audit", &receiver).await;
    // The queued retry comes back and hangs on the receiver for 2 s; the
    // manual retry is asked for meanwhile.
    let (round, busy) = tokio::join!(
        t.deliveries.pump(&t.deliverer, Duration::from_secs(3)),
        async {
            until_received(&receiver, 2).await;
            manual_retry(&t, "audit", &id).await
        }
    );
    assert_eq!(round.unwrap().failed, 1, "the queued attempt failed");
    assert_eq!(busy.status, 409, "{:?}", busy.body);
    assert!(busy.detail().contains("in progress"), "{:?}", busy.body);
    assert_eq!(delivered(&receiver), 0);
    // The failed attempt handed the delivery back: a manual retry makes it.
    let retry = manual_retry(&t, "audit", &id).await;
    assert_eq!(retry.status, 200, "{:?}", retry.body);
    assert_eq!(retry.body["delivered"], json!(true));
    // Made, it is not made again: neither by hand nor by the queue.
    let again = manual_retry(&t, "audit", &id).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert!(again.detail().contains("made already"), "{:?}", again.body);
    let until = Instant::now() + Duration::from_secs(6);
    while t.queue_depth(&t.deliveries_url).await > 0 {
        assert!(Instant::now() < until, "the queued retry is not done");
        t.deliveries
            .pump(&t.deliverer, Duration::from_millis(200))
            .await
            .unwrap();
    }
    assert_eq!(delivered(&receiver), 1, "one 2xx delivery");
    assert_eq!(receiver.count(), 3);
}

/// A queued attempt that outlives its lease, and whose delivery a manual
/// retry then makes, fails afterwards: its release must not reopen the
/// delivery (it used to, unconditionally, and the queue delivered again).
#[tokio::test]
async fn a_queued_attempt_that_outlived_its_lease_never_reopens_a_delivery_made_by_hand() {
    let t = TestApp::spawn().await;
    let receiver = failing_then_slow_then_up().await;
    let id = first_attempt_failed(&t, "late", &receiver).await;
    // A deliverer whose lease runs out at once, and whose receiver gets 4 s.
    let sender = folio::webhooks::send::Sender::new(
        t.webhook_key.clone(),
        folio_tests::loopback_allowed(),
        folio::outbound::Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(4),
        },
    )
    .unwrap();
    let stale = Deliverer::new(
        t.app.store.clone(),
        t.sqs.clone(),
        t.deliveries_url.clone(),
        sender,
        Duration::ZERO,
        Duration::from_secs(1),
    );
    let messages = t.deliveries.receive(Duration::from_secs(3)).await.unwrap();
    assert_eq!(messages.len(), 1, "the delivery, back after its backoff");
    let event = t.deliveries.event(&messages).unwrap();
    let (late, manual) = tokio::join!(stale.handle(event.clone()), async {
        until_received(&receiver, 2).await;
        // The stale attempt's lease (to the second) has run out.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        manual_retry(&t, "late", &id).await
    });
    assert_eq!(manual.status, 200, "{:?}", manual.body);
    assert_eq!(manual.body["delivered"], json!(true));
    assert_eq!(late.batch_item_failures.len(), 1, "the late attempt failed");
    let sent: DeliveryMessage = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    let job = t
        .app
        .store
        .job(&sent.event.event_id, &sent.job_key())
        .await
        .unwrap()
        .unwrap();
    assert!(job.done, "the late failure did not reopen it");
    // The message again: done, nothing sent.
    let again = t.deliverer.handle(event).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(delivered(&receiver), 1, "one 2xx delivery");
    assert_eq!(receiver.count(), 3);
}

/// The store's side of it: only the claimant finishes or hands back its
/// claim, so a run whose lease ran out never reopens what another finished.
#[tokio::test]
async fn a_release_by_a_stale_claimant_does_not_reopen_a_done_job() {
    let t = TestApp::spawn().await;
    let store = &t.app.store;
    let (event, job) = ("0123456789abcdef0123456789abcdef", "webhook:site");
    let claim = |lease| store.claim_job(event, job, lease);
    assert_eq!(
        claim(Duration::ZERO).await.unwrap(),
        Claim::Claimed { runs: 1 }
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // the lease runs out
    let long = Duration::from_secs(60);
    assert_eq!(claim(long).await.unwrap(), Claim::Claimed { runs: 2 });
    assert!(store.finish_claim(event, job, 2).await.unwrap());
    assert!(!store.release_claim(event, job, 1).await.unwrap());
    assert!(!store.finish_claim(event, job, 1).await.unwrap());
    let record = store.job(event, job).await.unwrap().unwrap();
    assert!(record.done && record.runs == 2, "{record:?}");
    assert_eq!(claim(long).await.unwrap(), Claim::Done);
}

/// A message whose job fails inside (a 3,000-character `event_id` makes a
/// job record key DynamoDB refuses) used to log only
/// `job … failed: Internal error`.
#[tokio::test]
async fn a_failed_jobs_log_line_carries_its_cause() {
    let t = TestApp::spawn().await;
    let mut e = Event::new(
        &t.org,
        &CollectionKey::parse("team_members").unwrap(),
        ItemId::new(),
        2,
        EventType::Delete,
    );
    e.event_id = "e".repeat(3000);
    let body = serde_json::to_string(&e).unwrap();
    let (captured, _guard) = folio_tests::capture_logs(tracing::Level::INFO);
    let response = t
        .worker
        .handle(folio_tests::sqs_event("long-id", &body))
        .await;
    assert_eq!(response.batch_item_failures.len(), 1, "the message failed");
    let logs = captured.text();
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "message failed")
        .unwrap_or_else(|| panic!("no failure logged: {logs}"));
    let error = line["fields"]["error"].as_str().unwrap();
    assert!(error.starts_with("job detach_cleanup failed: "), "{error}");
    assert!(error.contains("ValidationException"), "the cause: {error}");
    assert!(!error.ends_with("Internal error"), "{error}");
}

/// A stream record the relay cannot map, holding `blob` bytes.
fn unmappable(n: usize, blob: usize) -> Value {
    let pk = format!("ITEM#acme#team#{n:026}");
    json!({
        "eventID": n.to_string(), "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795428000.0,
            "Keys": {"pk": {"S": pk}, "sk": {"S": "ITEM"}},
            "NewImage": {"pk": {"S": pk}, "sk": {"S": "ITEM"}, "blob": {"S": "x".repeat(blob)}},
            "SequenceNumber": format!("{}", 100 + n), "SizeBytes": blob,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    })
}

/// Ten dead letters of 200 KB used to go in one `SendMessageBatch`, past
/// SQS's 256 KiB for a batch: refused every time, the shard stalled. Each
/// now reaches the DLQ, and one too large for a message goes as a pointer.
#[tokio::test]
async fn ten_dead_letters_of_200_kb_and_one_larger_than_a_message_all_reach_the_dlq() {
    let t = TestApp::spawn().await;
    // Just under the old cut (200 KiB) to a pointer: sent whole.
    let mut records: Vec<Value> = (0..10).map(|n| unmappable(n, 199 * 1024)).collect();
    records.push(unmappable(10, 300 * 1024));
    let event = serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = t.relay.handle(event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "the shard goes on: {:?}",
        response.batch_item_failures
    );
    let mut bodies: Vec<Value> = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while bodies.len() < 11 && Instant::now() < until {
        let got = t
            .sqs
            .receive_message()
            .queue_url(&t.dlq_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            bodies.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
    }
    assert_eq!(bodies.len(), 11, "every record reached the DLQ");
    let sequence = |b: &Value| {
        b["dynamodb"]["SequenceNumber"]
            .as_str()
            .or(b["SequenceNumber"].as_str())
            .unwrap()
            .to_owned()
    };
    let mut seen: Vec<String> = bodies.iter().map(sequence).collect();
    seen.sort();
    let expected: Vec<String> = (100..111).map(|n| n.to_string()).collect();
    assert_eq!(seen, expected);
    let pointers: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["pointer"] == json!(true))
        .collect();
    assert_eq!(pointers.len(), 1, "only the record too large for a message");
    assert_eq!(pointers[0]["SequenceNumber"], "110");
    assert_eq!(
        pointers[0]["Keys"]["pk"]["S"],
        format!("ITEM#acme#team#{:026}", 10)
    );
}
