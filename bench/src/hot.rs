//! `hot_target`: one item referenced by 20,000 others
//! (`FOLIO_BENCH_REFERRERS`), loaded through the store with their edges
//! (`Store::load_items`, batch writes), then what meets it: a create that
//! references it, its delete refused while `restrict` referrers hold it
//! (naming the first of them and the total), and, once deleted, the detach
//! cleanup of every referrer by the worker (100 a message, continuations).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use folio::content::{ItemRecord, OutRef, Status};
use folio::ids::{CollectionKey, ItemId};
use folio::schema::OnDelete;
use serde_json::{json, Value};

use super::{ms, percentile, round3, Bench};

/// Requests per measured case.
const REQUESTS: usize = 50;

fn summary(mut wall: Vec<f64>) -> Value {
    wall.sort_by(f64::total_cmp);
    json!({
        "requests": wall.len(),
        "p50_ms": percentile(&wall, 0.5),
        "p99_ms": percentile(&wall, 0.99),
    })
}

pub async fn hot_target(n: usize) -> Value {
    let b = Bench::new_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "boss", "type": "reference", "collection": "people"},
        {"key": "mentors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(b.t.put_collection("people", people).await.status, 201);
    let x =
        b.t.create("people", "published", json!({"name": "X"}))
            .await;
    let collection = CollectionKey::parse("people").unwrap();
    let target = ItemId::parse(&x).unwrap();
    let indexing = b.t.app.indexing(&b.t.org, &collection).await.unwrap();

    eprintln!("bench: hot_target, loading {n} referrers");
    let started = Instant::now();
    const SLICE: usize = 5_000;
    let mut done = 0;
    while done < n {
        let records: Vec<ItemRecord> = (done..(done + SLICE).min(n))
            .map(|i| {
                let fields = BTreeMap::from([
                    ("name".to_owned(), json!(format!("R{i}"))),
                    ("mentors".to_owned(), json!([x])),
                ]);
                let mut r = ItemRecord::new(
                    &b.t.org,
                    &collection,
                    Status::Published,
                    &folio::clock::now(),
                    fields,
                );
                r.out_refs = vec![OutRef {
                    collection: collection.clone(),
                    id: target,
                    field: "mentors".into(),
                    on_delete: OnDelete::Detach,
                }
                .encode()];
                r
            })
            .collect();
        b.t.app.store.load_items(&records, &indexing).await.unwrap();
        done += records.len();
    }
    let load_s = started.elapsed().as_secs_f64();
    // Their creation events are not what this measures.
    b.t.pump.lock().await.skip().await.unwrap();

    // Creates that reference the hot item (`restrict`): each links it.
    let mut creates = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let (status, wall, _) = b
            .call(
                "POST",
                "/v2/content/people/",
                Some(
                    json!({"status": "published", "fields": [{"name": format!("B{i}"), "boss": x}]}),
                ),
            )
            .await;
        assert_eq!(status, 202);
        creates.push(ms(wall));
    }
    // Its delete, refused while they hold it, naming them.
    let path = format!("/v2/content/people/{x}/");
    let mut refused = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let (status, wall, _) = b.call("DELETE", &path, None).await;
        assert_eq!(status, 400);
        refused.push(ms(wall));
    }
    let r = b.t.request("DELETE", &path, None).await;
    assert_eq!(r.body["referenced_by_total"], REQUESTS, "{:?}", r.body);
    let named = r.body["referenced_by"].as_array().map_or(0, Vec::len);
    // The holders go (one batch delete), then the item; its cleanup
    // detaches every referrer.
    let holders: Vec<String> =
        b.t.referrers("people", &x)
            .await
            .into_iter()
            .filter(|e| !e.restrict.is_empty())
            .map(|e| e.id)
            .collect();
    let r =
        b.t.request(
            "POST",
            "/v2/content/people/batch-delete/",
            Some(json!(holders)),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    b.t.pump.lock().await.skip().await.unwrap();
    b.t.drain_events().await;
    assert_eq!(b.t.request("DELETE", &path, None).await.status, 204);
    eprintln!("bench: hot_target, detaching {n} referrers");
    let started = Instant::now();
    b.t.pump.lock().await.pump(&b.t.relay).await.unwrap();
    let mut messages = 0;
    while b.t.in_flight().await > 0 {
        messages +=
            b.t.queue
                .pump(&b.t.worker, Duration::from_secs(1))
                .await
                .unwrap()
                .received;
    }
    let cleanup = started.elapsed().as_secs_f64();
    let left = b.t.referrers("people", &x).await.len();
    json!({
        "referrers": n,
        "load_s": round3(load_s),
        "create_referencing": summary(creates),
        "refused_delete": summary(refused),
        "refused_delete_names": named,
        "referenced_by_total": REQUESTS,
        "cleanup_s": round3(cleanup),
        "cleanup_messages": messages,
        "cleanup_referrers_per_s": round3(n as f64 / cleanup),
        "edges_left": left,
    })
}
