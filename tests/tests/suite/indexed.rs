//! Indexed fields (`store::entries`) against DynamoDB Local: the schema's
//! rules, every write moving an item's entries in the same step, a field
//! indexed on a collection with items served from memory until its build,
//! and localized organizations.

use std::time::Duration;

use folio::content::order::encode;
use folio::ids::{CollectionKey, ItemId, Locale};
use folio::schema::Org;
use folio_tests::{folio, listed_ids, TestApp};
use serde_json::{json, Value};

/// The entry of `field` for item `id`: (published, the value it encodes),
/// None when the item has none.
async fn entry(t: &TestApp, collection: &str, id: &str, field: &str) -> Option<(bool, String)> {
    let (pk, sk) = t
        .app
        .store
        .index_entry(
            &t.org,
            &CollectionKey::parse(collection).unwrap(),
            &ItemId::parse(id).unwrap(),
            field,
        )
        .await
        .unwrap()?;
    assert!(sk.ends_with(&format!("#{id}")), "{sk}");
    let value = sk.rsplit_once('#').unwrap().0.to_owned();
    Some((pk.ends_with("#p"), value))
}

/// How many of the `products` items `ids` have an entry of `name`.
async fn names_indexed(t: &TestApp, ids: &[String]) -> usize {
    let mut n = 0;
    for id in ids {
        n += usize::from(entry(t, "products", id, "name").await.is_some());
    }
    n
}

fn enc(v: Value) -> String {
    encode(Some(&v))
}

#[tokio::test]
async fn the_schema_says_which_fields_may_be_indexed() {
    let t = TestApp::spawn_with(&[]).await;
    let r = t
        .put_collection(
            "posts",
            json!({"name": "Posts", "fields": [
                {"key": "title", "type": "text", "indexed": true},
                {"key": "body", "type": "long_text", "indexed": true},
                {"key": "tags", "type": "reference", "collection": "posts", "many": true, "indexed": true},
                {"key": "cover", "type": "media", "indexed": true}
            ]}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    for k in [
        "fields[1].indexed",
        "fields[2].indexed",
        "fields[3].indexed",
    ] {
        assert!(r.body["errors"][k].is_array(), "{k} in {:?}", r.body);
    }
    assert!(r.body["errors"].get("fields[0].indexed").is_none());
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"key": format!("f{i}"), "type": "number", "indexed": true}))
        .collect();
    let r = t
        .put_collection("posts", json!({"name": "Posts", "fields": six}))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.body["errors"]["fields"][0]
            .as_str()
            .unwrap()
            .contains("At most 5"),
        "{:?}",
        r.body
    );
    // Nothing was written.
    let r = t.request("GET", "/v2/collections/posts/", None).await;
    assert_eq!(r.status, 404);
    // Five are fine, and read back as defined.
    let r = t
        .put_collection("posts", json!({"name": "Posts", "fields": six[..5]}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["fields"][4]["indexed"], true);
    assert_eq!(r.body["building"], json!([]));
    // A replacement computed from a definition changed since is refused
    // (its `building` would be computed from the wrong one).
    let key = CollectionKey::parse("posts").unwrap();
    let read = t.stored_collection(&key).await;
    let r = t
        .put_collection("posts", json!({"name": "Posts", "fields": six[..1]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let stale = t.app.store.put_collection(&t.org, &read, Some(&read)).await;
    assert!(matches!(stale, Err(folio::Error::Conflict(_))), "{stale:?}");
}

#[tokio::test]
async fn every_write_moves_the_entries_in_the_same_step() {
    let t = TestApp::spawn_with(&[]).await;
    let r = t
        .put_collection(
            "people",
            json!({"name": "People", "fields": [
                {"key": "name", "type": "text", "required": true, "indexed": true}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = t
        .put_collection(
            "staff",
            json!({"name": "Staff", "fields": [
                {"key": "name", "type": "text", "required": true},
                {"key": "rank", "type": "number", "indexed": true},
                {"key": "manager", "type": "reference", "collection": "people", "on_delete": "detach", "indexed": true}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let boss = t
        .create("people", "published", json!({"name": "Boss"}))
        .await;
    assert_eq!(
        entry(&t, "people", &boss, "name").await,
        Some((true, enc(json!("Boss"))))
    );
    let id = t
        .create(
            "staff",
            "draft",
            json!({"name": "Ada", "rank": 3, "manager": boss}),
        )
        .await;
    assert_eq!(
        entry(&t, "staff", &id, "rank").await,
        Some((false, enc(json!(3))))
    );
    assert_eq!(
        entry(&t, "staff", &id, "manager").await,
        Some((false, enc(json!(boss))))
    );
    assert_eq!(entry(&t, "staff", &id, "name").await, None, "not indexed");
    let path = format!("/v2/content/staff/{id}/");

    // PUT: the value and the status move both entries.
    let r = t
        .request(
            "PUT",
            &path,
            Some(json!({"status": "published", "fields": {"name": "Ada", "rank": 7}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        entry(&t, "staff", &id, "rank").await,
        Some((true, enc(json!(7))))
    );
    assert_eq!(
        entry(&t, "staff", &id, "manager").await,
        Some((true, encode(None))),
        "the reference is gone: its entry sorts last"
    );
    // PATCH of another field leaves them; PATCH of one moves it.
    let r = t
        .request("PATCH", &path, Some(json!({"fields": {"name": "Ada L."}})))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        entry(&t, "staff", &id, "rank").await,
        Some((true, enc(json!(7))))
    );
    let r = t
        .request(
            "PATCH",
            &path,
            Some(json!({"status": "draft", "fields": {"rank": -2.5, "manager": boss}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        entry(&t, "staff", &id, "rank").await,
        Some((false, enc(json!(-2.5))))
    );
    assert_eq!(
        entry(&t, "staff", &id, "manager").await,
        Some((false, enc(json!(boss))))
    );
    // A write that changes nothing keeps them (and the version).
    let r = t
        .request("PATCH", &path, Some(json!({"fields": {"rank": -2.5}})))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);

    // DELETE removes them; restore puts them back as the item is.
    let r = t.request("DELETE", &path, None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(entry(&t, "staff", &id, "rank").await, None);
    assert_eq!(entry(&t, "staff", &id, "manager").await, None);
    let r = t.request("POST", &format!("{path}restore/"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        entry(&t, "staff", &id, "rank").await,
        Some((false, enc(json!(-2.5))))
    );
    assert_eq!(
        entry(&t, "staff", &id, "manager").await,
        Some((false, enc(json!(boss))))
    );

    // The detach cleanup after the manager's delete moves the entry too.
    let r = t
        .request("DELETE", &format!("/v2/content/people/{boss}/"), None)
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(entry(&t, "people", &boss, "name").await, None);
    let staff = CollectionKey::parse("staff").unwrap();
    let people = CollectionKey::parse("people").unwrap();
    let indexing = t.app.store.indexing(&t.org, &staff).await.unwrap();
    t.app
        .store
        .detach(
            &t.org,
            (&people, &ItemId::parse(&boss).unwrap()),
            (&staff, &ItemId::parse(&id).unwrap()),
            &folio::clock::now(),
            "job:test",
            &indexing,
        )
        .await
        .unwrap();
    assert_eq!(
        entry(&t, "staff", &id, "manager").await,
        Some((false, encode(None)))
    );
    assert_eq!(
        t.stored("staff", &id).await.unwrap().fields.get("manager"),
        None
    );

    // Lists by the index see all of it: drafts in preview, by rank.
    let other = t
        .create("staff", "published", json!({"name": "Bo", "rank": 1}))
        .await;
    let r = t
        .request(
            "GET",
            "/v2/content/staff/?order=rank&preview=1&page_size=1",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(listed_ids(&r.body, "staff"), vec![id.clone()]);
    assert!(
        r.body["meta"]["next_cursor"].is_string(),
        "served by the index"
    );
    let r = t
        .request("GET", "/v2/content/staff/?fields.rank=1", None)
        .await;
    assert_eq!(listed_ids(&r.body, "staff"), vec![other]);
    assert_eq!(r.body["meta"]["count"], 1);
    let r = t
        .request("GET", "/v2/content/staff/?fields.rank=one", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["meta"]["count"], 0);
}

#[tokio::test]
async fn a_field_indexed_on_a_collection_with_items_serves_once_built() {
    let t = TestApp::spawn_with(&[]).await;
    let schema = |indexed: bool| {
        json!({"name": "Products", "fields": [
            {"key": "name", "type": "text", "required": true},
            {"key": "price", "type": "number", "indexed": indexed}
        ]})
    };
    let r = t.put_collection("products", schema(false)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut made = Vec::new();
    for (i, price) in [30, 10, 20, 10].into_iter().enumerate() {
        let id = t
            .create(
                "products",
                "published",
                json!({"name": format!("p{i}"), "price": price}),
            )
            .await;
        made.push((price, id));
    }
    let mut by_price = made.clone();
    by_price.sort(); // price, then id (creation order)
    let want: Vec<String> = by_price.iter().map(|(_, id)| id.clone()).collect();
    let list = |q: &'static str| {
        let t = &t;
        async move {
            t.request("GET", &format!("/v2/content/products/?{q}"), None)
                .await
        }
    };

    // Indexed now, on a collection with items: building, served from memory.
    let r = t.put_collection("products", schema(true)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["building"], json!(["price"]));
    let r = list("order=price&page_size=2").await;
    assert_eq!(listed_ids(&r.body, "products"), want[..2]);
    assert_eq!(r.body["meta"]["next_cursor"], Value::Null, "from memory");
    // Writes meanwhile keep entries already.
    let id = &made[0].1;
    let r = t
        .request(
            "PATCH",
            &format!("/v2/content/products/{id}/"),
            Some(json!({"fields": {"price": 40}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        entry(&t, "products", id, "price").await,
        Some((true, enc(json!(40))))
    );

    // The build: every live item's entry, then the field serves.
    let key = CollectionKey::parse("products").unwrap();
    let built = t
        .app
        .store
        .reindex(&t.org, &key, false, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(built.items, 4);
    assert_eq!(built.purged, 1, "the PATCH's entry, written again");
    t.app.forget_collection(&t.org, &key);
    let r = t.request("GET", "/v2/collections/products/", None).await;
    assert_eq!(r.body["building"], json!([]));
    let r = list("order=-price&page_size=2").await;
    assert_eq!(
        listed_ids(&r.body, "products"),
        vec![id.clone(), made[2].1.clone()],
        "40, 20"
    );
    let cursor = r.body["meta"]["next_cursor"]
        .as_str()
        .expect("served by the index")
        .to_owned();
    let r = t
        .request(
            "GET",
            &format!("/v2/content/products/?order=-price&page_size=2&cursor={cursor}"),
            None,
        )
        .await;
    // Page 1 was 40 and 20; then the two 10s newest first (the exact
    // reverse of oldest first).
    assert_eq!(
        listed_ids(&r.body, "products"),
        vec![made[3].1.clone(), made[1].1.clone()]
    );
    let r = list("fields.price=10&order=-created_at").await;
    assert_eq!(
        listed_ids(&r.body, "products"),
        vec![made[3].1.clone(), made[1].1.clone()]
    );
    assert_eq!(r.body["meta"]["count"], 2);
    // A cursor of one order is refused by another.
    let r = t
        .request(
            "GET",
            &format!("/v2/content/products/?order=price&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);

    // Un-indexed, changed, indexed again: the old entries are not trusted.
    let r = t.put_collection("products", schema(false)).await;
    assert_eq!(r.status, 200);
    let r = t
        .request(
            "PATCH",
            &format!("/v2/content/products/{}/", made[1].1),
            Some(json!({"fields": {"price": 99}})),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = t.put_collection("products", schema(true)).await;
    assert_eq!(r.body["building"], json!(["price"]));
    t.app.forget_collection(&t.org, &key);
    let built = t
        .app
        .store
        .reindex(&t.org, &key, false, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((built.purged, built.items), (4, 4));
    t.app.forget_collection(&t.org, &key);
    let r = list("order=-price&page_size=1").await;
    assert_eq!(
        listed_ids(&r.body, "products"),
        vec![made[1].1.clone()],
        "99 first"
    );
    assert!(
        r.body["meta"]["next_cursor"].is_string(),
        "{:?}",
        r.body["meta"]
    );
}

/// The pipeline builds a field indexed on a collection with items: the
/// collection record's stream change asks the worker for a build, which
/// waits out the schema cache (a delayed message), writes a page per
/// message here (budget zero) and marks the field built. A build for a
/// definition since replaced stops at its next page; the newer
/// definition's build then builds what both listed.
#[tokio::test]
async fn the_pipeline_builds_a_newly_indexed_field() {
    let mut t = TestApp::spawn_with(&[]).await;
    t.worker = t
        .worker
        .clone()
        .with_build_budget(Duration::ZERO, 25)
        .with_settle(Duration::from_secs(2));
    let schema = |price: bool, name: bool| {
        json!({"name": "Products", "fields": [
            {"key": "name", "type": "text", "required": true, "indexed": name},
            {"key": "price", "type": "number", "indexed": price}
        ]})
    };
    let r = t.put_collection("products", schema(false, false)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // 60 items: three pages of the build (25 each).
    let ids = t
        .create_all(
            "products",
            "published",
            60,
            |i| json!({"name": format!("p{i:03}"), "price": i % 7}),
        )
        .await;
    assert_eq!(t.drain_events().await.len(), 60, "the creates' events");
    let entries = |field: &'static str| {
        let (t, ids) = (&t, &ids);
        async move {
            let mut n = 0;
            for id in ids {
                if let Some(e) = entry(t, "products", id, field).await {
                    n += 1;
                    assert!(e.0, "published");
                }
            }
            n
        }
    };

    let r = t.put_collection("products", schema(true, false)).await;
    assert_eq!(r.body["building"], json!(["price"]));
    let again = t.put_collection("products", schema(true, false)).await;
    assert_eq!(
        (&again.body["updated_at"], &again.body["building"]),
        (&r.body["updated_at"], &r.body["building"]),
        "the same definition again: no new build"
    );
    let started = std::time::Instant::now();
    let received = t.run_pipeline(Duration::from_secs(60)).await;
    assert_eq!(
        received, 4,
        "the build's message, again after the cache time, then a page each"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited out the cache"
    );
    let r = t.request("GET", "/v2/collections/products/", None).await;
    assert_eq!(r.body["building"], json!([]));
    assert_eq!(entries("price").await, 60);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            entry(&t, "products", id, "price").await,
            Some((true, enc(json!(i % 7)))),
            "item {i}"
        );
    }
    let r = t
        .request(
            "GET",
            "/v2/content/products/?fields.price=3&page_size=5",
            None,
        )
        .await;
    let mut threes: Vec<String> = (0..60)
        .filter(|i| i % 7 == 3)
        .map(|i| ids[i].clone())
        .collect();
    threes.sort(); // creation order is id order (one request's items share a millisecond)
    assert_eq!(r.body["meta"]["count"], threes.len());
    assert_eq!(listed_ids(&r.body, "products"), threes[..5]);
    assert!(
        r.body["meta"]["next_cursor"].is_string(),
        "served by the index"
    );

    // Replaced mid-build: the first page is built, then the definition
    // changes before the next page runs (a worker that does not wait).
    let quick = t.worker.clone().with_settle(Duration::ZERO);
    let r = t.put_collection("products", schema(true, true)).await;
    assert_eq!(r.body["building"], json!(["name"]));
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    let round = t.queue.pump(&quick, Duration::from_secs(1)).await.unwrap();
    assert_eq!(
        (round.received, round.failed),
        (1, 0),
        "the build's first page"
    );
    assert_eq!(entries("name").await, 25);
    let r = t.put_collection("products", schema(false, true)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["building"], json!(["name"]), "still to build");
    // The first build's next page, before the new definition is relayed.
    let round = t.queue.pump(&quick, Duration::from_secs(1)).await.unwrap();
    assert_eq!((round.received, round.failed), (1, 0), "the continuation");
    assert_eq!(
        entries("name").await,
        25,
        "it stopped: the definition changed"
    );
    assert_eq!(t.in_flight().await, 0, "and queued nothing");
    // The new definition's build: after the cache time, a purge, then
    // every page.
    let received = t.run_pipeline(Duration::from_secs(60)).await;
    // Three pages, and the message again if the cache time had not
    // passed when it first came.
    assert!((3..=4).contains(&received), "{received}");
    let r = t.request("GET", "/v2/collections/products/", None).await;
    assert_eq!(r.body["building"], json!([]));
    assert_eq!(entries("name").await, 60);
    let r = t
        .request("GET", "/v2/content/products/?order=-name&page_size=3", None)
        .await;
    assert_eq!(
        listed_ids(&r.body, "products"),
        vec![ids[59].clone(), ids[58].clone(), ids[57].clone()]
    );
    assert!(
        r.body["meta"]["next_cursor"].is_string(),
        "served by the index"
    );
}

/// A build's first message delivered again (its worker died after queuing
/// the next page, so its job was never marked done) while later pages are
/// built: it must not purge what they wrote.
#[tokio::test]
async fn a_first_build_message_run_again_does_not_undo_later_pages() {
    let t = TestApp::spawn_with(&[]).await;
    let quick = t
        .worker
        .clone()
        .with_settle(Duration::ZERO)
        .with_build_budget(Duration::ZERO, 10);
    let schema = |indexed: bool| {
        json!({"name": "Products", "fields": [
            {"key": "name", "type": "text", "required": true, "indexed": indexed}
        ]})
    };
    assert_eq!(
        t.put_collection("products", schema(false)).await.status,
        201
    );
    let ids = t
        .create_all(
            "products",
            "published",
            30,
            |i| json!({"name": format!("p{i:02}")}),
        )
        .await;
    t.drain_events().await;
    let entries = || names_indexed(&t, &ids);
    let r = t.put_collection("products", schema(true)).await;
    assert_eq!(r.body["building"], json!(["name"]));
    let first = folio::events::worker::BuildMessage {
        index_build: folio::events::worker::IndexBuild {
            org: t.org.clone(),
            collection: CollectionKey::parse("products").unwrap(),
            schema_at: r.body["updated_at"].as_str().unwrap().to_owned(),
            after: None,
            purge_round: 0,
        },
    };
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    for pages in [1, 2] {
        let round = t.queue.pump(&quick, Duration::from_secs(1)).await.unwrap();
        assert_eq!((round.received, round.failed), (1, 0));
        assert_eq!(entries().await, 10 * pages);
    }
    // The third page's message, held aside (invisible for a minute).
    let held = t
        .sqs
        .receive_message()
        .queue_url(&t.queue_url)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(held.len(), 1, "the third page's message");
    // The first message again, its job as a dead worker leaves it.
    let event = format!("build#{}#products#{}", t.org, first.index_build.schema_at);
    t.app
        .store
        .release_job(&event, "index_build")
        .await
        .unwrap();
    t.sqs
        .send_message()
        .queue_url(&t.queue_url)
        .message_body(serde_json::to_string(&first).unwrap())
        .send()
        .await
        .unwrap();
    let round = t.queue.pump(&quick, Duration::from_secs(1)).await.unwrap();
    assert_eq!((round.received, round.failed), (1, 0));
    assert_eq!(entries().await, 20, "the second page's entries are kept");
    // Its next page was done already; the held one finishes the build.
    t.sqs
        .change_message_visibility()
        .queue_url(&t.queue_url)
        .receipt_handle(held[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    t.run_pipeline(Duration::from_secs(60)).await;
    let r = t.request("GET", "/v2/collections/products/", None).await;
    assert_eq!(r.body["building"], json!([]));
    assert_eq!(entries().await, 30);
    // Counts from the value counts, each value once.
    for name in ["p00", "p15", "p29"] {
        let r = t
            .request(
                "GET",
                &format!("/v2/content/products/?fields.name={name}"),
                None,
            )
            .await;
        assert_eq!(r.body["meta"]["count"], 1, "{name}: {:?}", r.body["meta"]);
    }
}

/// Old entries left by an earlier indexing are purged a page per message
/// (budget zero, 10 a page), and the build writes only once the purge
/// found nothing left; the value counts end exact.
#[tokio::test]
async fn a_purge_goes_on_across_messages_before_the_build_writes() {
    let t = TestApp::spawn_with(&[]).await;
    let quick = t
        .worker
        .clone()
        .with_settle(Duration::ZERO)
        .with_build_budget(Duration::ZERO, 10)
        .with_purge_page(10);
    let schema = |indexed: bool| {
        json!({"name": "Products", "fields": [
            {"key": "name", "type": "text", "required": true, "indexed": indexed}
        ]})
    };
    assert_eq!(t.put_collection("products", schema(true)).await.status, 201);
    let ids = t
        .create_all(
            "products",
            "published",
            25,
            |i| json!({"name": format!("v{}", i % 4)}),
        )
        .await;
    t.drain_events().await;
    let entries = || names_indexed(&t, &ids);
    assert_eq!(entries().await, 25);
    // Un-indexed, two items renamed (their entries keep the old values),
    // indexed again.
    assert_eq!(
        t.put_collection("products", schema(false)).await.status,
        200
    );
    for id in &ids[..2] {
        let r = t
            .request(
                "PATCH",
                &format!("/v2/content/products/{id}/"),
                Some(json!({"fields": {"name": "v9"}})),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    assert_eq!(t.drain_events().await.len(), 2, "the PATCHes' events");
    let r = t.put_collection("products", schema(true)).await;
    assert_eq!(r.body["building"], json!(["name"]));
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    for (step, left) in [
        ("purge 10", 15),
        ("purge 10", 5),
        ("purge 5, then the first page", 10),
    ] {
        let round = t.queue.pump(&quick, Duration::from_secs(1)).await.unwrap();
        assert_eq!((round.received, round.failed), (1, 0), "{step}");
        assert_eq!(entries().await, left, "{step}");
    }
    t.run_pipeline(Duration::from_secs(60)).await;
    let r = t.request("GET", "/v2/collections/products/", None).await;
    assert_eq!(r.body["building"], json!([]));
    assert_eq!(entries().await, 25);
    assert_eq!(
        entry(&t, "products", &ids[0], "name").await,
        Some((true, enc(json!("v9"))))
    );
    for (name, count) in [("v0", 6), ("v1", 5), ("v2", 6), ("v3", 6), ("v9", 2)] {
        let r = t
            .request(
                "GET",
                &format!("/v2/content/products/?fields.name={name}"),
                None,
            )
            .await;
        assert_eq!(
            r.body["meta"]["count"], count,
            "{name}: {:?}",
            r.body["meta"]
        );
    }
}

#[tokio::test]
async fn a_localized_organization_indexes_its_default_locale() {
    let t = TestApp::spawn().await; // en (default), es
    let r = t
        .put_collection(
            "books",
            json!({"name": "Books", "fields": [
                {"key": "title", "type": "text", "indexed": true}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let a = t
        .create(
            "books",
            "published",
            json!({"en": {"title": "b"}, "es": {"title": "z"}}),
        )
        .await;
    let b = t
        .create(
            "books",
            "published",
            json!({"en": {"title": "c"}, "es": {"title": "a"}}),
        )
        .await;
    let c = t
        .create("books", "published", json!({"en": {"title": "a"}}))
        .await;
    let r = t
        .request("GET", "/v2/content/books/?order=title&page_size=2", None)
        .await;
    assert_eq!(listed_ids(&r.body, "books"), vec![c.clone(), a.clone()]);
    assert!(r.body["meta"]["next_cursor"].is_string(), "by the index");
    // Spanish, with the English fallback: from memory, still right.
    let r = t
        .request(
            "GET",
            "/v2/content/books/?order=title&locale=es&page_size=2",
            None,
        )
        .await;
    assert_eq!(listed_ids(&r.body, "books"), vec![b.clone(), c.clone()]);
    assert_eq!(r.body["meta"]["next_cursor"], Value::Null);
    let r = t
        .request("GET", "/v2/content/books/?fields.title=z&locale=es", None)
        .await;
    assert_eq!(listed_ids(&r.body, "books"), vec![a.clone()]);
    let r = t
        .request("GET", "/v2/content/books/?fields.title=c", None)
        .await;
    assert_eq!(listed_ids(&r.body, "books"), vec![b.clone()]);

    // Spanish becomes the default: the entries hold English values, so the
    // index stops serving until it is built again in Spanish.
    let books = CollectionKey::parse("books").unwrap();
    let es = Org {
        id: t.org.clone(),
        locales: vec![Locale::parse("en").unwrap(), Locale::parse("es").unwrap()],
        default_locale: Some(Locale::parse("es").unwrap()),
    };
    let marked = t.app.store.put_org_and_mark(&es).await.unwrap();
    assert_eq!(marked, vec![books.clone()]);
    t.app.forget_org(&t.org);
    t.app.forget_collection(&t.org, &books);
    let by_title = "/v2/content/books/?order=title&page_size=2";
    let r = t.request("GET", by_title, None).await;
    // Spanish values; the English-only book has none now (last).
    assert_eq!(listed_ids(&r.body, "books"), vec![b.clone(), a.clone()]);
    assert_eq!(r.body["meta"]["next_cursor"], Value::Null, "from memory");
    let built = t
        .app
        .store
        .reindex(&t.org, &books, false, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(built.items, 3);
    t.app.forget_collection(&t.org, &books);
    let r = t.request("GET", by_title, None).await;
    assert_eq!(listed_ids(&r.body, "books"), vec![b, a]);
    assert!(
        r.body["meta"]["next_cursor"].is_string(),
        "by the index again"
    );
    assert_eq!(
        t.app.store.put_org_and_mark(&es).await.unwrap(),
        Vec::<CollectionKey>::new(),
        "no change, nothing marked"
    );
}

#[tokio::test]
async fn above_the_memory_limit_an_unindexed_list_names_the_field_to_index() {
    let mut t = TestApp::spawn_with(&[]).await;
    let r = t
        .put_collection(
            "parts",
            json!({"name": "Parts", "fields": [
                {"key": "name", "type": "text", "required": true},
                {"key": "colour", "type": "text"},
                {"key": "size", "type": "number", "indexed": true}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let colours = ["red", "blue", "red", "green", "red", "blue"];
    let ids = t
        .create_all(
            "parts",
            "published",
            colours.len(),
            |i| json!({"name": format!("part {i}"), "colour": colours[i], "size": i % 2}),
        )
        .await;

    // Under the limit: filtered and ordered in memory on the values alone,
    // the page's items fetched whole.
    t.app.config.memory_list_max = 6;
    let r = t
        .request(
            "GET",
            "/v2/content/parts/?fields.colour=red&order=-name&page_size=2",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        listed_ids(&r.body, "parts"),
        vec![ids[4].clone(), ids[2].clone()]
    );
    assert_eq!(r.body["meta"]["count"], 3);
    assert_eq!(r.body["data"]["parts"][0]["size"], 0, "the whole item");
    let r = t
        .request("GET", "/v2/content/parts/?order=colour&page_size=3", None)
        .await;
    // Equal values in creation (id) order: ids made in one request share
    // their millisecond, so their order is their random part's.
    let mut blue = vec![ids[1].clone(), ids[5].clone()];
    blue.sort();
    blue.push(ids[3].clone());
    assert_eq!(listed_ids(&r.body, "parts"), blue);

    // Over it: a 400 naming what to index; indexed lists still serve.
    t.app.config.memory_list_max = 5;
    for (q, param) in [
        ("fields.colour=red", "fields.colour"),
        ("order=-colour", "order"),
        ("fields.size=1&fields.colour=red", "fields.colour"),
        ("order=size&fields.colour=blue", "fields.colour"),
        (
            "updated_after=2026-01-01T00:00:00Z&order=created_at",
            "updated_after",
        ),
    ] {
        let r = t
            .request("GET", &format!("/v2/content/parts/?{q}"), None)
            .await;
        assert_eq!(r.status, 400, "{q}: {:?}", r.body);
        let msg = r.body["errors"][param][0].as_str().unwrap_or_default();
        assert!(msg.contains("more than 5 items"), "{q}: {:?}", r.body);
        if param != "updated_after" {
            assert!(msg.contains("\"colour\" as indexed"), "{q}: {msg}");
        }
    }
    let r = t
        .request("GET", "/v2/content/parts/?fields.size=1&order=-size", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut odd = vec![ids[1].clone(), ids[3].clone(), ids[5].clone()];
    odd.sort();
    odd.reverse();
    assert_eq!(
        listed_ids(&r.body, "parts"),
        odd,
        "equal sizes newest first"
    );
}

#[tokio::test]
async fn a_batch_delete_moves_counts_entries_and_references_as_single_deletes_do() {
    let t = TestApp::spawn_with(&[]).await;
    let r = t
        .put_collection(
            "tags",
            json!({"name": "Tags", "fields": [
                {"key": "name", "type": "text", "required": true, "indexed": true},
                {"key": "parent", "type": "reference", "collection": "tags", "on_delete": "restrict"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ids = t
        .create_all(
            "tags",
            "published",
            60,
            |i| json!({"name": format!("t{i:02}")}),
        )
        .await;
    // Tag 0 is referenced by a tag outside the batch; tag 1 references
    // tag 2, both in it (the release and the delete in one request).
    let child = t
        .create("tags", "draft", json!({"name": "child", "parent": ids[0]}))
        .await;
    let r = t
        .request(
            "PATCH",
            &format!("/v2/content/tags/{}/", ids[1]),
            Some(json!({"fields": {"parent": ids[2]}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let r = t
        .request("DELETE", &format!("/v2/content/tags/{}/", ids[59]), None)
        .await;
    assert_eq!(r.status, 204);

    let mut batch: Vec<String> = ids.clone();
    batch.push("01JF0000000000000000000000".into());
    let r = t
        .request("POST", "/v2/content/tags/batch-delete/", Some(json!(batch)))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // 60 - tag 0 (referenced) - tag 59 (already deleted); tag 2 goes too:
    // its referrer, tag 1, is deleted in the same request, unless tag 2's
    // transaction came first, which the guard refuses.
    let deleted = r.body["deletedCount"].as_u64().unwrap();
    let errors: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors.contains(
            &format!(
                "Content object: \"{}\" is used in another content object.",
                ids[0]
            )
            .as_str()
        ),
        "{errors:?}"
    );
    assert!(
        errors.contains(&format!("Content object: \"{}\" doesn't exist", ids[59]).as_str()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"Content object: \"01JF0000000000000000000000\" doesn't exist"),
        "{errors:?}"
    );
    let tag2_refused = errors.iter().any(|e| e.contains(&ids[2]));
    assert_eq!(deleted as usize + errors.len(), 61, "{errors:?}");
    assert_eq!(deleted, if tag2_refused { 57 } else { 58 });

    // Counts, entries and edges as single deletes leave them.
    let r = t
        .request(
            "GET",
            "/v2/content/tags/?preview=1&order=name&page_size=100",
            None,
        )
        .await;
    let left = listed_ids(&r.body, "tags");
    let mut want = vec![child.clone(), ids[0].clone()];
    if tag2_refused {
        want.push(ids[2].clone());
    }
    assert_eq!(left, want);
    assert_eq!(r.body["meta"]["count"], json!(want.len()));
    for id in &ids[3..59] {
        assert_eq!(entry(&t, "tags", id, "name").await, None, "{id}");
        assert!(t.stored("tags", id).await.unwrap().deleted_at.is_some());
    }
    assert!(entry(&t, "tags", &ids[0], "name").await.is_some());
    assert!(
        t.referrers("tags", &ids[2]).await.is_empty(),
        "tag 1's edge released"
    );
    assert_eq!(t.stored("tags", &ids[2]).await.unwrap().restrict_count, 0);
    // Deleted items restore with their entries.
    let r = t
        .request(
            "POST",
            &format!("/v2/content/tags/{}/restore/", ids[30]),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        entry(&t, "tags", &ids[30], "name").await,
        Some((true, enc(json!("t30"))))
    );
}

/// A purge's claim is finished or handed back only by the run that holds
/// it: one whose lease ran out (and was claimed again) changes nothing.
#[tokio::test]
async fn a_claim_whose_lease_ran_out_neither_finishes_nor_reopens_the_next() {
    use folio::store::jobs::Claim;
    let t = TestApp::spawn_with(&[]).await;
    let store = &t.app.store;
    let (event, job) = ("build#acme#products#2026", "index_build:purge");
    assert_eq!(
        store.claim_job(event, job, Duration::ZERO).await.unwrap(),
        Claim::Claimed { runs: 1 }
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // the lease runs out
    assert_eq!(
        store
            .claim_job(event, job, Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Claimed { runs: 2 }
    );
    assert!(!store.finish_claim(event, job, 1).await.unwrap());
    assert!(!store.release_claim(event, job, 1).await.unwrap());
    assert_eq!(
        store
            .claim_job(event, job, Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Busy,
        "the second run still holds it"
    );
    assert!(store.finish_claim(event, job, 2).await.unwrap());
    assert!(
        !store.release_claim(event, job, 2).await.unwrap(),
        "a finished purge is not reopened"
    );
    assert_eq!(
        store
            .claim_job(event, job, Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Done
    );
}
