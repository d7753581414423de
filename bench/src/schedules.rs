//! 1,000 schedules due in the same second (`FOLIO_BENCH_SCHEDULES`),
//! locally: each item a draft with a publish schedule at one `at`, made
//! through the API. At `at` the bench sends every fire message to the
//! events queue, 10 a `SendMessageBatch`, as EventBridge Scheduler would
//! (its own sending is AWS's: moto's Scheduler is single-threaded Python,
//! which took minutes to arm 1,000, and `folio-pump`'s clock sends one at
//! a time), while four queue consumers run the worker, as the queue's
//! trigger would scale out. Lateness: from `at` to the item's new version
//! (its `updated_at`). Every schedule must fire once: each item ends at
//! version 2, each record `done`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use folio::events::worker::{ScheduleMessage, ScheduleStep, Step};
use folio::ids::{CollectionKey, ItemId};
use folio_tests::TestApp;
use serde_json::{json, Value};

use crate::{cdf, percentile, round3};

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
    // Far enough ahead to make them all first on a quiet machine; on a
    // busy one, as many as are made 2 s before `at` (`schedules` says how
    // many, `asked` how many were asked for).
    let lead = 10 + n as i64 / 25;
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(lead);
    let at = at.replace_nanosecond(0).unwrap();
    let at_text = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let started = Instant::now();
    let mut made = Vec::with_capacity(n);
    for id in &ids {
        if at - time::OffsetDateTime::now_utc() < time::Duration::seconds(2) {
            break;
        }
        let r = t
            .request(
                "POST",
                &format!("/v2/content/articles/{id}/schedules/"),
                Some(json!({"action": "publish", "at": at_text})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        made.push((id.clone(), r.body["id"].as_str().unwrap().to_owned()));
    }
    let made_s = started.elapsed().as_secs_f64();
    // The records' stream changes would arm them in moto: not here.
    t.pump.lock().await.skip().await.unwrap();
    let fires: Vec<String> = made
        .iter()
        .map(|(id, schedule)| {
            serde_json::to_string(&ScheduleMessage {
                schedule: ScheduleStep {
                    step: Step::Fire,
                    org: t.org.clone(),
                    collection: CollectionKey::parse("articles").unwrap(),
                    item_id: ItemId::parse(id).unwrap(),
                    id: schedule.clone(),
                },
            })
            .unwrap()
        })
        .collect();
    let wait = at - time::OffsetDateTime::now_utc();
    eprintln!(
        "bench: schedules: {} made in {made_s:.1} s; due in {wait}",
        made.len()
    );
    // Lateness counts from `at` whenever the fires go out.
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;

    // At `at`: every fire message goes out while the consumers run the
    // worker, until the queue stays empty.
    let started = Instant::now();
    let sent = AtomicBool::new(false);
    let scheduler = async {
        for chunk in fires.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .unwrap()
                })
                .collect();
            t.sqs
                .send_message_batch()
                .queue_url(&t.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
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
    let (sent_s, _) = tokio::join!(scheduler, consumers);
    let wall_s = started.elapsed().as_secs_f64();

    let collection = CollectionKey::parse("articles").unwrap();
    let targets: Vec<_> = made
        .iter()
        .map(|(id, _)| (collection.clone(), ItemId::parse(id).unwrap()))
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
        "asked": n,
        "schedules": made.len(),
        "made_s": round3(made_s),
        "sent_s": round3(sent_s),
        "wall_s": round3(wall_s),
        "published_once": published_once,
        "records_done": done,
        "lateness_p50_ms": round3(percentile(&late, 0.5)),
        "lateness_p99_ms": round3(percentile(&late, 0.99)),
        "lateness_max_ms": round3(late.last().copied().unwrap_or(0.0)),
        // Every fifth percentile, 0 to 100: the plot's cumulative curve.
        "lateness_cdf_ms": cdf(&late),
    })
}
