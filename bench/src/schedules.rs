//! 1,000 schedules due in the same second (`FOLIO_BENCH_SCHEDULES`),
//! locally: each item a draft with a publish schedule at one `at`, armed
//! in moto's EventBridge Scheduler through the stream and the worker; at
//! `at`, the scheduler's clock (`folio_local::clock`, as AWS would) sends
//! every fire message while four queue consumers run the worker, as the
//! queue's trigger would scale out. Lateness: from `at` to the item's new
//! version (its `updated_at`). Every schedule must fire once: each item
//! ends at version 2, each record `done`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use folio::ids::{CollectionKey, ItemId};
use folio_tests::TestApp;
use serde_json::{json, Value};

use crate::{percentile, round3};

/// Consumers of the events queue at once (the trigger scales out).
const CONSUMERS: usize = 4;

pub async fn schedules(n: usize) -> Value {
    let t = TestApp::spawn_with(&[]).await;
    let r = t
        .put_collection(
            "articles",
            json!({"name": "Articles", "fields": [{"key": "title", "type": "text"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let take = (n - ids.len()).min(12);
        let items: Vec<Value> = (0..take)
            .map(|i| json!({"title": format!("t{}", ids.len() + i)}))
            .collect();
        let r = t
            .request(
                "POST",
                "/v2/content/",
                Some(json!({"key": "articles", "status": "draft", "fields": items})),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        for item in r.body["items"].as_array().unwrap() {
            ids.push(item["meta"]["id"].as_str().unwrap().to_owned());
        }
    }
    // Far enough ahead to make and arm them all first.
    let lead = 30 + n as i64 / 20;
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(lead);
    let at = at.replace_nanosecond(0).unwrap();
    let at_text = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let started = Instant::now();
    for id in &ids {
        let r = t
            .request(
                "POST",
                &format!("/v2/content/articles/{id}/schedules/"),
                Some(json!({"action": "publish", "at": at_text})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let made_s = started.elapsed().as_secs_f64();
    eprintln!("bench: schedules: {n} made in {made_s:.1} s; arming");
    let started = Instant::now();
    // Arm (relay → worker → CreateSchedule), without letting any fire.
    loop {
        let relayed = t.pump.lock().await.pump(&t.relay).await.unwrap();
        let round = t.queue.pump(&t.worker, Duration::ZERO).await.unwrap();
        if relayed == 0 && round.received == 0 && t.in_flight().await == 0 {
            break;
        }
    }
    let armed_s = started.elapsed().as_secs_f64();
    // The clock reads each schedule once (GetSchedule), before `at`.
    assert_eq!(t.fire_due().await, 0, "none due yet");
    let wait = at - time::OffsetDateTime::now_utc();
    assert!(wait.is_positive(), "arming took past `at`: raise the lead");
    eprintln!("bench: schedules: armed in {armed_s:.1} s; due in {wait}");
    tokio::time::sleep(Duration::try_from(wait).unwrap()).await;

    // At `at`: the clock fires, the consumers run the worker, until every
    // item is published and the queue is empty.
    let started = Instant::now();
    let sent = AtomicBool::new(false);
    let clock = async {
        let mut fired = 0;
        while fired < n && started.elapsed() < Duration::from_secs(120) {
            fired += t.fire_due().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sent.store(true, Ordering::SeqCst);
        started.elapsed().as_secs_f64()
    };
    let consumers = futures::future::join_all((0..CONSUMERS).map(|_| async {
        let mut idle = 0;
        while !(sent.load(Ordering::SeqCst) && idle >= 2)
            && started.elapsed() < Duration::from_secs(600)
        {
            let round = t
                .queue
                .pump(&t.worker, Duration::from_secs(1))
                .await
                .unwrap();
            idle = if round.received == 0 { idle + 1 } else { 0 };
        }
    }));
    let (sent_s, _) = tokio::join!(clock, consumers);
    let wall_s = started.elapsed().as_secs_f64();

    let collection = CollectionKey::parse("articles").unwrap();
    let targets: Vec<_> = ids
        .iter()
        .map(|id| (collection.clone(), ItemId::parse(id).unwrap()))
        .collect();
    let items = t.app.store.get_items(&t.org, &targets).await.unwrap();
    let mut late = Vec::with_capacity(n);
    let mut published_once = 0;
    for item in items.values() {
        if item.version == 2 && item.status == folio::content::State::Published {
            published_once += 1;
        }
        let written = time::OffsetDateTime::parse(
            &item.updated_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        late.push((written - at).as_seconds_f64() * 1e3);
    }
    let mut done = 0;
    for (c, id) in &targets {
        let listed = t.app.store.item_schedules(&t.org, c, id).await.unwrap();
        done += listed
            .iter()
            .filter(|s| s.state == folio::schedule::ScheduleState::Done)
            .count();
    }
    late.sort_by(f64::total_cmp);
    json!({
        "schedules": n,
        "made_s": round3(made_s),
        "armed_s": round3(armed_s),
        "clock_sent_s": round3(sent_s),
        "wall_s": round3(wall_s),
        "published_once": published_once,
        "records_done": done,
        "lateness_p50_ms": round3(percentile(&late, 50.0)),
        "lateness_p99_ms": round3(percentile(&late, 99.0)),
        "lateness_max_ms": round3(late.last().copied().unwrap_or(0.0)),
    })
}
