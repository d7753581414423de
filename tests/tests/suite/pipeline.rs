//! The event pipeline for real: the table's stream (DynamoDB Local's
//! Streams API) → the relay → the events queue (moto) → the worker → its
//! jobs, with outages made by closed ports and a hanging proxy, kills made
//! by dropping a relay in the middle of a batch, and redeliveries made by
//! handing the worker the same message again (docs/design.md §8).

use std::time::{Duration, Instant};

use folio::event::{event_id, Event, EventType};
use folio::events::worker::{Job, Message};
use folio::ids::{CollectionKey, ItemId};
use folio::store::jobs::JobRecord;
use folio_tests::proxy::Proxy;
use folio_tests::pump::StreamPump;
use folio_tests::{binary, folio, TestApp};
use serde_json::{json, Value};

/// `people`, whose `mentors` reference people and are detached when a
/// mentor is deleted; an unlocalized org.
async fn app() -> TestApp {
    let t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "mentors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    t
}

fn ids(collection: &str, id: &str) -> (CollectionKey, ItemId) {
    (
        CollectionKey::parse(collection).unwrap(),
        ItemId::parse(id).unwrap(),
    )
}

/// The id of the event a change made.
fn change_id(t: &TestApp, collection: &str, id: &str, version: u64, kind: EventType) -> String {
    let (c, i) = ids(collection, id);
    event_id(&t.org, &c, i, version, kind)
}

/// The cleanup job's record for an event: (done, runs).
async fn job(t: &TestApp, event_id: &str) -> Option<(bool, u64)> {
    let record: Option<JobRecord> = t
        .app
        .store
        .job(event_id, Job::DetachCleanup.name())
        .await
        .unwrap();
    record.map(|j| {
        assert_eq!(j.done, j.finished_at.is_some(), "{j:?}");
        (j.done, j.runs)
    })
}

/// Done, by one run.
const ONCE: Option<(bool, u64)> = Some((true, 1));

async fn get(t: &TestApp, collection: &str, id: &str) -> Value {
    let r = t
        .request(
            "GET",
            &format!("/v2/content/{collection}/{id}/?preview=1"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn delete(t: &TestApp, collection: &str, id: &str) {
    let r = t
        .request("DELETE", &format!("/v2/content/{collection}/{id}/"), None)
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

/// `n` people whose mentors are `mentors`; returns their ids.
async fn referrers(t: &TestApp, n: usize, mentors: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            t.create(
                "people",
                "published",
                json!({"name": format!("R{i}"), "mentors": mentors}),
            )
            .await,
        );
    }
    out
}

#[tokio::test]
async fn deleting_an_item_detaches_it_from_30_referrers_and_restoring_it_does_not_bring_them_back()
{
    let mut t = app().await;
    // Seven referrers a message: the cleanup continues across five messages.
    t.worker = t.worker.clone().with_cleanup_page(7);
    let x = t.create("people", "published", json!({"name": "X"})).await;
    let other = t.create("people", "published", json!({"name": "O"})).await;
    let rs = referrers(&t, 30, &[&x, &other]).await;
    t.run_pipeline(Duration::from_secs(60)).await;
    assert_eq!(t.referrers("people", &x).await.len(), 30);

    delete(&t, "people", &x).await;
    t.run_pipeline(Duration::from_secs(120)).await;
    for r in &rs {
        let item = t.stored("people", r).await.unwrap();
        assert_eq!(item.fields["mentors"], json!([other]), "{item:?}");
        assert_eq!(item.version, 2, "one new version each: {item:?}");
        assert_eq!(get(&t, "people", r).await["meta"]["version"], 2);
    }
    assert!(t.referrers("people", &x).await.is_empty(), "no edge left");
    assert_eq!(t.referrers("people", &other).await.len(), 30);
    let delete_event = change_id(&t, "people", &x, 2, EventType::Delete);
    assert_eq!(job(&t, &delete_event).await, ONCE);

    let r = t
        .request("POST", &format!("/v2/content/people/{x}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    t.run_pipeline(Duration::from_secs(60)).await;
    for r in &rs {
        let item = t.stored("people", r).await.unwrap();
        assert_eq!(item.fields["mentors"], json!([other]), "not brought back");
        assert_eq!(item.version, 2);
    }
}

#[tokio::test]
async fn purging_an_item_detaches_it_from_30_referrers_and_leaves_nothing_pointing_at_it() {
    let t = app().await;
    let y = t.create("people", "published", json!({"name": "Y"})).await;
    let rs = referrers(&t, 30, &[&y]).await;
    t.run_pipeline(Duration::from_secs(60)).await;
    // Deleted and purged (TTL) before the worker ran: the delete's and the
    // purge's cleanups race each other, and each referrer changes once.
    delete(&t, "people", &y).await;
    t.purge("people", &y).await;
    t.run_pipeline(Duration::from_secs(120)).await;
    for r in &rs {
        let item = t.stored("people", r).await.unwrap();
        assert!(!item.fields.contains_key("mentors"), "{item:?}");
        assert_eq!(item.version, 2, "{item:?}");
        assert!(item.out_refs.is_empty());
        assert_eq!(get(&t, "people", r).await["mentors"], json!([]));
    }
    assert!(t.referrers("people", &y).await.is_empty());
    assert!(t.stored("people", &y).await.is_none());
    let purge_event = change_id(&t, "people", &y, 2, EventType::Purge);
    assert_eq!(job(&t, &purge_event).await, ONCE);
    let r = t
        .request("POST", &format!("/v2/content/people/{y}/restore/"), None)
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
}

#[tokio::test]
async fn twenty_quick_patches_become_events_with_strictly_increasing_versions() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "draft", json!({"en": {"name": "Ada"}}))
        .await;
    t.drain_events().await;
    let path = format!("/v2/content/team_members/{id}/");
    for i in 0..20 {
        let r = t
            .request("PATCH", &path, Some(json!({"fields": {"en": {"age": i}}})))
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    let versions: Vec<u64> = t
        .drain_events()
        .await
        .into_iter()
        .filter(|e| e.item_id.to_string() == id)
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, (2..=21).collect::<Vec<u64>>());
}

#[tokio::test]
async fn the_same_message_delivered_three_times_twice_at_once_runs_its_job_once() {
    let t = app().await;
    let x = t.create("people", "published", json!({"name": "X"})).await;
    let rs = referrers(&t, 3, &[&x]).await;
    t.drain_events().await;
    delete(&t, "people", &x).await;
    let events = t.drain_events().await;
    let [delete_event] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(delete_event.kind, EventType::Delete);
    let body = serde_json::to_string(delete_event).unwrap();
    let (a, b) = tokio::join!(
        t.worker.handle(folio_tests::sqs_event("m-1", &body)),
        t.worker.handle(folio_tests::sqs_event("m-1", &body))
    );
    // At most one of the two at once found the job held by the other (and
    // would be retried); the third delivery finds it done.
    assert!(a.batch_item_failures.len() + b.batch_item_failures.len() <= 1);
    let c = t.worker.handle(folio_tests::sqs_event("m-1", &body)).await;
    assert!(c.batch_item_failures.is_empty());
    for r in &rs {
        let item = t.stored("people", r).await.unwrap();
        assert_eq!(item.version, 2, "detached exactly once");
        assert!(item.out_refs.is_empty());
    }
    assert_eq!(job(&t, &delete_event.event_id).await, ONCE);
    // The referrers' changes are events of their own, one each.
    let changes = t.drain_events().await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().all(|e| e.version == 2));
}

#[tokio::test]
async fn a_poison_message_fails_alone_reaches_the_dlq_and_the_cli_redrives_it() {
    let t = TestApp::spawn().await;
    // A queue of its own: a failed message is back after 1 s, and goes to
    // the DLQ on its third receive.
    let settings = folio::events::QueueSettings {
        visibility_timeout_secs: 1,
        max_receive_count: 2,
    };
    let name = format!("poison-{}", ulid::Ulid::new().to_string().to_lowercase());
    let (queue_url, dlq_url) = folio::events::ensure_queues_with(&t.sqs, &name, settings)
        .await
        .unwrap();
    // Set up again (as `folio-admin init` on every `make dev`), with other
    // settings first: the same queues, brought to the settings given.
    let again = |visibility_timeout_secs| {
        let settings = folio::events::QueueSettings {
            visibility_timeout_secs,
            ..settings
        };
        folio::events::ensure_queues_with(&t.sqs, &name, settings)
    };
    assert_eq!(
        again(30).await.unwrap(),
        (queue_url.clone(), dlq_url.clone())
    );
    assert_eq!(
        again(1).await.unwrap(),
        (queue_url.clone(), dlq_url.clone())
    );
    let queue = folio_tests::queue::QueuePump::new(t.sqs.clone(), queue_url.clone())
        .await
        .unwrap();
    for i in 0..10 {
        let body = if i == 4 {
            "{\"event_id\": \"not an event\"".to_owned()
        } else {
            let e = Event::new(
                &t.org,
                &CollectionKey::parse("team_members").unwrap(),
                ItemId::new(),
                2,
                EventType::Delete,
            );
            serde_json::to_string(&e).unwrap()
        };
        t.sqs
            .send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mut batch = Vec::new();
    while batch.len() < 10 {
        let got = queue.receive(Duration::from_secs(1)).await.unwrap();
        assert!(!got.is_empty(), "the queue holds 10");
        batch.extend(got);
    }
    let poison = batch
        .iter()
        .find(|m| m.body().unwrap().contains("not an event"))
        .unwrap()
        .message_id()
        .unwrap()
        .to_owned();
    let response = t.worker.handle(queue.event(&batch).unwrap()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec![poison.as_str()], "only the poison message");
    queue.settle(&batch, &response).await.unwrap();

    // Received again until SQS gives up on it.
    let until = Instant::now() + Duration::from_secs(30);
    while t.queue_depth(&dlq_url).await == 0 {
        assert!(
            Instant::now() < until,
            "the poison message never reached the DLQ"
        );
        queue.pump(&t.worker, Duration::from_secs(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(t.queue_depth(&queue_url).await, 0);

    let out = std::process::Command::new(binary("folio-admin"))
        .args([
            "dlq",
            "redrive",
            "--queue-url",
            &queue_url,
            "--dlq-url",
            &dlq_url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 messages moved"),
        "{out:?}"
    );
    assert_eq!(t.queue_depth(&dlq_url).await, 0);
    let back = queue.receive(Duration::from_secs(1)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert!(back[0].body().unwrap().contains("not an event"));
}

/// A relay whose SQS endpoint is `url`, with short timeouts.
async fn relay_via(
    t: &TestApp,
    url: &str,
    timeouts: folio::aws::Timeouts,
) -> folio::events::relay::Relay {
    let sdk = folio::aws::sdk_config_with(timeouts).await;
    let sqs = aws_sdk_sqs::config::Builder::from(&sdk).endpoint_url(url);
    folio::events::relay::Relay::new(
        aws_sdk_sqs::Client::from_conf(sqs.build()),
        t.queue_url.clone(),
        t.dlq_url.clone(),
    )
}

fn short() -> folio::aws::Timeouts {
    folio::aws::Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(2),
    }
}

fn sqs_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_SQS").unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Outage {
    Refusing,
    Hanging,
}

/// 20 deletes while SQS is out; once it is back, each delete's cleanup job
/// runs exactly once.
async fn writes_during_an_sqs_outage(outage: Outage) {
    let t = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            t.create(
                "team_members",
                "published",
                json!({"en": {"name": format!("N{i}")}}),
            )
            .await,
        );
    }
    t.run_pipeline(Duration::from_secs(60)).await;
    let proxy = Proxy::start(&sqs_endpoint()).await;
    let (down, back) = match outage {
        Outage::Refusing => (
            relay_via(&t, &folio_tests::closed_port(), short()).await,
            t.relay.clone(),
        ),
        Outage::Hanging => {
            proxy.pause();
            let relay = relay_via(&t, &proxy.url, short()).await;
            (relay.clone(), relay)
        }
    };
    // The request path has no SQS in it (the API's `App` holds no SQS
    // client; a write is one DynamoDB request, the benchmark's
    // `sqs_requests` = 0): all 20 writes succeed while SQS is out. How fast
    // they answer is the benchmark's business, not a timed assertion here.
    for id in &ids {
        delete(&t, "team_members", id).await;
    }
    let mut pump = t.pump.lock().await;
    let started = Instant::now();
    assert_eq!(
        pump.pump(&down).await.unwrap(),
        0,
        "{outage:?}: nothing sent"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the relay's SQS calls are bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(pump.pending(), 20, "nothing lost");
    proxy.resume();
    assert_eq!(pump.pump(&back).await.unwrap(), 20, "every event once back");
    drop(pump);
    t.run_pipeline(Duration::from_secs(60)).await;
    for id in &ids {
        let e = change_id(&t, "team_members", id, 2, EventType::Delete);
        assert_eq!(job(&t, &e).await, ONCE, "{outage:?}: the cleanup of {id}");
    }
}

#[tokio::test]
async fn writes_while_sqs_refuses_connections_succeed_and_each_job_runs_once_it_is_back() {
    writes_during_an_sqs_outage(Outage::Refusing).await;
}

#[tokio::test]
async fn writes_while_sqs_hangs_succeed_and_each_job_runs_once_it_is_back() {
    writes_during_an_sqs_outage(Outage::Hanging).await;
}

#[tokio::test]
async fn the_relay_killed_in_the_middle_of_a_batch_loses_nothing_and_repeats_no_side_effect() {
    let t = app().await;
    let mut targets = Vec::new();
    let mut rs = Vec::new();
    for i in 0..12 {
        let x = t
            .create("people", "published", json!({"name": format!("X{i}")}))
            .await;
        rs.extend(referrers(&t, 1, &[&x]).await);
        targets.push(x);
    }
    // This test's trigger keeps its position in a checkpoint, as AWS's
    // event source mapping does.
    let checkpoint =
        std::env::temp_dir().join(format!("folio-checkpoint-{}.json", ulid::Ulid::new()));
    let start = || async {
        StreamPump::new(&t.sdk, t.app.store.client(), &t.table)
            .await
            .unwrap()
            .with_checkpoint(&checkpoint)
            .unwrap()
    };
    let mut first = start().await;
    first.pump(&t.relay).await.unwrap();
    while t
        .queue
        .pump(&t.worker, Duration::ZERO)
        .await
        .unwrap()
        .received
        > 0
    {}

    for x in &targets {
        delete(&t, "people", x).await;
    }
    // The first SendMessageBatch (10 events) lands; its answer and all
    // that follows hang; then the relay is killed.
    let proxy = Proxy::start(&sqs_endpoint()).await;
    proxy.pause_on_answer();
    let relay = relay_via(&t, &proxy.url, folio::aws::Timeouts::default()).await;
    let killed = tokio::spawn(async move {
        let _ = first.pump(&relay).await;
    });
    let until = Instant::now() + Duration::from_secs(30);
    while t.queue_depth(&t.queue_url).await < 10 {
        assert!(Instant::now() < until, "the first batch never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.queue_depth(&t.queue_url).await, 10, "the rest hangs");
    killed.abort();
    let _ = killed.await;

    // Restarted from the checkpoint: the whole batch again.
    let mut second = start().await;
    assert_eq!(second.pump(&t.relay).await.unwrap(), 12);
    assert_eq!(t.queue_depth(&t.queue_url).await, 22, "10 duplicates");
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        second.pump(&t.relay).await.unwrap();
        let round = t
            .queue
            .pump(&t.worker, Duration::from_secs(1))
            .await
            .unwrap();
        if round.received == 0 && t.queue_depth(&t.queue_url).await == 0 {
            break;
        }
        assert!(Instant::now() < until, "the worker did not finish");
    }
    for (x, r) in targets.iter().zip(&rs) {
        let e = change_id(&t, "people", x, 2, EventType::Delete);
        assert_eq!(job(&t, &e).await, ONCE, "the cleanup after {x}");
        let item = t.stored("people", r).await.unwrap();
        assert_eq!(item.version, 2, "detached once");
        assert!(item.out_refs.is_empty());
    }
    let _ = std::fs::remove_file(&checkpoint);
}

#[tokio::test]
async fn the_cli_replays_the_current_state_events_of_chosen_items() {
    let t = TestApp::spawn().await;
    let a = t
        .create("team_members", "published", json!({"en": {"name": "A"}}))
        .await;
    let b = t
        .create("team_members", "draft", json!({"en": {"name": "B"}}))
        .await;
    delete(&t, "team_members", &b).await;
    let original: Vec<Event> = t.drain_events().await;
    let replay = |args: &[&str]| {
        let out = std::process::Command::new(binary("folio-admin"))
            .arg("replay")
            .args(["--org", t.org.as_str(), "--queue-url", &t.queue_url])
            .args(args)
            .env("FOLIO_TABLE", &t.table)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    replay(&["--collection", "team_members"]);
    let mut replayed: Vec<(String, EventType, u64, String)> = t
        .drain_events()
        .await
        .into_iter()
        .map(|e| (e.item_id.to_string(), e.kind, e.version, e.event_id))
        .collect();
    replayed.sort();
    let mut want = vec![
        (a.clone(), EventType::Published, 1),
        (b.clone(), EventType::Delete, 2),
    ];
    want.sort();
    assert_eq!(
        replayed
            .iter()
            .map(|(i, k, v, _)| (i.clone(), *k, *v))
            .collect::<Vec<_>>(),
        want
    );
    for (_, _, _, id) in &replayed {
        assert!(
            original.iter().any(|e| &e.event_id == id),
            "a replay repeats the original event id, so jobs do not run twice"
        );
    }
    replay(&["--collection", "team_members", "--item", &a]);
    let one = t.drain_events().await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].item_id.to_string(), a);
    replay(&["--since", "2999-01-01T00:00:00Z"]);
    assert!(
        t.drain_events().await.is_empty(),
        "nothing changed since then"
    );
    // A message on the queue is an event or an event's continuation.
    let m: Message = serde_json::from_str(&serde_json::to_string(&one[0]).unwrap()).unwrap();
    assert!(m.resume.is_none());
}
