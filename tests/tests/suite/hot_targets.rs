//! An item referenced by thousands: the reference guard stays exact and the
//! detach cleanup reaches every referrer, because edges are items of their
//! own in the target's partition (docs/design.md §3), not a map on the
//! target that would pass DynamoDB's 400 KB at ~7,000 referrers.

use std::time::{Duration, Instant};

use folio::content::{ItemRecord, OutRef, Status};
use folio::ids::{CollectionKey, ItemId};
use folio::schema::OnDelete;
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

    // 2,000 referrers through the store (`load_items`: the items, their
    // edges), and two that hold it (`restrict`: its counter too).
    let people = CollectionKey::parse("people").unwrap();
    let target = ItemId::parse(&x).unwrap();
    let referrer = |name: String, field: &str, on_delete: OnDelete| {
        let value = if field == "boss" {
            json!(x)
        } else {
            json!([x])
        };
        let mut r = ItemRecord::new(
            &t.org,
            &people,
            Status::Published,
            &folio::clock::now(),
            [("name".to_owned(), json!(name)), (field.to_owned(), value)].into(),
        );
        r.out_refs = vec![OutRef {
            collection: people.clone(),
            id: target,
            field: field.to_owned(),
            on_delete,
        }
        .encode()];
        r
    };
    let mut records: Vec<ItemRecord> = (0..REFERRERS)
        .map(|i| referrer(format!("R{i}"), "mentors", OnDelete::Detach))
        .collect();
    let holders: Vec<ItemRecord> = (0..2)
        .map(|i| referrer(format!("H{i}"), "boss", OnDelete::Restrict))
        .collect();
    records.extend(holders.iter().cloned());
    let started = Instant::now();
    let indexing = t.app.indexing(&t.org, &people).await.unwrap();
    t.app.store.load_items(&records, &indexing).await.unwrap();
    eprintln!("loaded {REFERRERS} referrers in {:?}", started.elapsed());
    let referrers: Vec<String> = records[..REFERRERS]
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(t.referrers("people", &x).await.len(), REFERRERS + 2);
    let r = t
        .request("GET", "/v2/content/people/?page_size=1", None)
        .await;
    assert_eq!(
        r.body["meta"]["count"],
        REFERRERS + 3,
        "counted as creates are"
    );
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
    let mut named: Vec<(String, String)> = r.body["referenced_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    named.sort();
    let mut holding: Vec<(String, String)> = holders
        .iter()
        .map(|h| h.id.to_string())
        .chain([boss_of.clone()])
        .map(|id| (id, "boss".to_owned()))
        .collect();
    holding.sort();
    assert_eq!(named, holding, "the holders, loaded and created");
    let listed: Vec<String> = t
        .app
        .store
        .restrict_edges(&t.org, (&people, &target), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let mut holding_ids: Vec<String> = holding.iter().map(|(id, _)| id.clone()).collect();
    holding_ids.sort();
    assert_eq!(
        listed, holding_ids,
        "named through by_field, past the detach edges"
    );
    assert_eq!(
        r.body["referenced_by_total"], 3,
        "detach referrers do not hold it"
    );
    let item = t.request("GET", &format!("{path}?levels=1"), None).await;
    assert_eq!(
        item.status, 200,
        "the target reads as before: {:?}",
        item.body
    );

    // The holders go: then the delete is allowed.
    let ids: Vec<String> = holding.into_iter().map(|(id, _)| id).collect();
    let r = t
        .request("POST", "/v2/content/people/batch-delete/", Some(json!(ids)))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    t.drain_events().await;
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
