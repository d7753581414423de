//! An item referenced by thousands: the reference guard stays exact and the
//! detach cleanup reaches every referrer, because edges are items of their
//! own in the target's partition (docs/design.md §3), not a map on the
//! target that would pass DynamoDB's 400 KB at ~7,000 referrers.

#![recursion_limit = "256"]

use std::time::{Duration, Instant};

use folio::ids::{CollectionKey, ItemId};
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

const REFERRERS: usize = 2_000;

#[tokio::test]
async fn an_item_with_2000_referrers_is_guarded_exactly_and_detached_from_all_of_them() {
    let t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "boss", "type": "reference", "collection": "people"},
        {"key": "mentors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    let x = t.create("people", "published", json!({"name": "X"})).await;

    // 2,000 referrers, 25 to a create (the most one create takes).
    let started = Instant::now();
    let referrers = t
        .create_all(
            "people",
            "published",
            REFERRERS,
            |i| json!({"name": format!("R{i}"), "mentors": [x]}),
        )
        .await;
    eprintln!("loaded {REFERRERS} referrers in {:?}", started.elapsed());
    assert_eq!(t.referrers("people", &x).await.len(), REFERRERS);
    // Their creation events are not what this test is about.
    t.pump.lock().await.skip().await.unwrap();

    // A new reference to the hot item still works, and guards it exactly.
    let boss_of = t
        .create("people", "published", json!({"name": "B", "boss": x}))
        .await;
    let path = format!("/v2/content/people/{x}/");
    let r = t.request("DELETE", &path, None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        r.detail(),
        "This content object is used in another content object."
    );
    assert_eq!(
        r.body["referenced_by"],
        json!([{"collection": "people", "id": boss_of, "field": "boss"}])
    );
    assert_eq!(
        r.body["referenced_by_total"], 1,
        "detach referrers do not hold it"
    );
    let item = t.request("GET", &format!("{path}?levels=1"), None).await;
    assert_eq!(
        item.status, 200,
        "the target reads as before: {:?}",
        item.body
    );

    let boss_path = format!("/v2/content/people/{boss_of}/");
    assert_eq!(t.request("DELETE", &boss_path, None).await.status, 204);
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);

    // The delete's cleanup, run by the worker as the queue hands it out
    // (100 referrers a message, then a continuation). The referrers' own
    // change events are left on the stream: they are not this job.
    let started = Instant::now();
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    let deadline = started + Duration::from_secs(600);
    while t.in_flight().await > 0 {
        assert!(
            Instant::now() < deadline,
            "cleanup did not finish in 10 minutes"
        );
        t.queue
            .pump(&t.worker, Duration::from_secs(1))
            .await
            .unwrap();
    }
    eprintln!("detached {REFERRERS} referrers in {:?}", started.elapsed());

    assert!(t.referrers("people", &x).await.is_empty(), "no edge left");
    let org = t.org.clone();
    let people = CollectionKey::parse("people").unwrap();
    let targets: Vec<(CollectionKey, ItemId)> = referrers
        .iter()
        .map(|id| (people.clone(), ItemId::parse(id).unwrap()))
        .collect();
    let stored = t.app.store.get_items(&org, &targets).await.unwrap();
    assert_eq!(stored.len(), REFERRERS);
    for record in stored.values() {
        let mentors = record.fields.get("mentors");
        assert!(
            matches!(mentors, None | Some(Value::Null)) || mentors == Some(&json!([])),
            "{record:?}"
        );
        assert_eq!(record.version, 2, "one new version each: {record:?}");
    }

    t.drop_table().await;
}
