//! Value counts of indexed fields (`store::commit::ops::wire`) against DynamoDB
//! Local: a listing filtered on an indexed field reads its `count` from
//! count shards kept in the entries' own transactions, so the count is
//! exact after every kind of write, under racing writes and a build, for
//! entries written before value counts existed, and costs the same
//! whatever the number of matches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue::S;
use folio::content::order::{filter, Filter, Kind};
use folio::content::{ItemRecord, Status};
use folio::ids::{CollectionKey, FieldKey, ItemId};
use folio::store::entries::Indexing;
use folio::store::pages::{PageQuery, Sorted};
use folio_tests::{folio, listed_ids, TestApp};
use serde_json::{json, Value};

const CITIES: [&str; 3] = ["oslo", "rome", "lima"];
/// Items in Oslo loaded through the store beside those written by HTTP.
const LOADED: usize = 1_000;

/// `n` shops `s<i>` created through the API, their cities in turn.
async fn shops(t: &TestApp, status: &str, n: usize) -> Vec<String> {
    t.create_all(
        "shops",
        status,
        n,
        |i| json!({"name": format!("s{i}"), "city": CITIES[i % 3]}),
    )
    .await
}

fn schema(indexed: bool) -> Value {
    json!({"name": "Shops", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "city", "type": "text", "indexed": indexed}
    ]})
}

/// What the store holds: for each live item and each view that shows it
/// (preview or not), its city there: the live version's without preview,
/// the newest content's with it.
type Truth = BTreeMap<(bool, String), Option<String>>;

async fn truth(t: &TestApp, ids: &[String]) -> Truth {
    let stored = futures::future::join_all(ids.iter().map(|id| t.stored("shops", id))).await;
    let mut out = Truth::new();
    for (id, r) in ids.iter().zip(stored) {
        let Some(r) = r.filter(|r| r.is_live(folio::store::now_epoch())) else {
            continue;
        };
        for preview in [false, true] {
            if let Some(shown) = r.clone().in_view(preview) {
                let city = shown.fields.get("city").and_then(|v| v.as_str());
                out.insert((preview, id.clone()), city.map(str::to_owned));
            }
        }
    }
    out
}

/// The keys of the entries holding `city`: what a count by keys finds
/// (stale entries too, which a listing passes over).
async fn entries_holding(t: &TestApp, city: &str, preview: bool) -> u64 {
    let Filter::Prefix(prefix) = filter(Kind::Text, city) else {
        panic!("a short text is served by the index")
    };
    let key = CollectionKey::parse("shops").unwrap();
    let q = PageQuery {
        org: &t.org,
        collection: &key,
        sorted: Sorted::Field(FieldKey::parse("city").unwrap()),
        descending: false,
        preview,
        after: None,
        updated_after: None,
        equals: Some(&prefix),
        skip: 0,
        take: 1,
    };
    t.app.store.count_entries(&q).await.unwrap()
}

/// Checks every city's filtered listing, published and preview, against
/// the store: its `count`, the entries holding the city, and the ids its
/// pages list. `loaded` more published items in Oslo are not in `truth`
/// (counted, not listed).
async fn assert_counts(t: &TestApp, truth: &Truth, loaded: usize) {
    for city in CITIES {
        for preview in [false, true] {
            let want: BTreeSet<String> = truth
                .iter()
                .filter(|((p, _), c)| *p == preview && c.as_deref() == Some(city))
                .map(|((_, id), _)| id.clone())
                .collect();
            let extra = if city == "oslo" { loaded } else { 0 };
            let at = format!("{city}, preview {preview}");
            let mut listed = BTreeSet::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/v2/content/shops/?fields.city={city}&page_size=100");
                if preview {
                    path.push_str("&preview=1");
                }
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let r = t.request("GET", &path, None).await;
                assert_eq!(r.status, 200, "{:?}", r.body);
                assert_eq!(r.body["meta"]["count"], json!(want.len() + extra), "{at}");
                listed.extend(listed_ids(&r.body, "shops"));
                match r.body["meta"]["next_cursor"].as_str() {
                    Some(c) if extra == 0 => cursor = Some(c.to_owned()),
                    _ => break,
                }
            }
            if extra == 0 {
                assert_eq!(listed, want, "{at}");
            }
            let entries = entries_holding(t, city, preview).await;
            assert_eq!(entries, (want.len() + extra) as u64, "{at}: stale entries");
        }
    }
}

async fn send(t: &TestApp, method: &str, path: &str, body: Option<Value>) -> u16 {
    t.request(method, path, body).await.status
}

#[tokio::test]
async fn a_filtered_count_follows_every_write_and_costs_the_same_at_any_size() {
    let t = TestApp::spawn_with(&[]).await;
    assert_eq!(t.put_collection("shops", schema(true)).await.status, 201);
    // 1,000 items in Oslo loaded through the store, then some by HTTP.
    let key = CollectionKey::parse("shops").unwrap();
    let collection = t.stored_collection(&key).await;
    let org = t.app.store.get_org(&t.org).await.unwrap().unwrap();
    let records: Vec<ItemRecord> = (0..LOADED)
        .map(|n| {
            let fields = BTreeMap::from([
                ("name".to_owned(), json!(format!("shop {n}"))),
                ("city".to_owned(), json!("oslo")),
            ]);
            ItemRecord::new(
                &t.org,
                &key,
                Status::Published,
                &folio::clock::now(),
                fields,
            )
        })
        .collect();
    t.app
        .store
        .load_items(&records, &Indexing::of(&org, &collection))
        .await
        .unwrap();
    let mut ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    ids.extend(
        t.create_all(
            "shops",
            "published",
            30,
            |i| json!({"name": format!("p{i}"), "city": CITIES[i % 3]}),
        )
        .await,
    );
    ids.extend(
        t.create_all(
            "shops",
            "draft",
            12,
            |i| json!({"name": format!("d{i}"), "city": CITIES[i % 3]}),
        )
        .await,
    );
    let small = &ids[LOADED..];
    assert_counts(&t, &truth(&t, small).await, LOADED).await;

    // The count of 1,010 matches costs what the count of 10 does: a few
    // count shards, not the matching keys (~13 units for 1,000 of them).
    let meter = t.app.store.read_meter();
    let mut used = Vec::new();
    for city in ["oslo", "rome"] {
        let before = meter.units();
        let r = t
            .request(
                "GET",
                &format!("/v2/content/shops/?fields.city={city}&page_size=1"),
                None,
            )
            .await;
        used.push(meter.units() - before);
        assert_eq!(
            r.body["meta"]["count"],
            if city == "oslo" { LOADED + 10 } else { 10 }
        );
    }
    eprintln!("filtered page of 1 (count of 1,010 / 10): {used:?} read units");
    assert!(used[0] <= used[1] + 1.0, "{used:?}");
    assert!(used[0] <= 5.0, "{used:?}");

    // Every kind of write on the HTTP items, the count checked after each.
    let item = |i: usize| format!("/v2/content/shops/{}/", small[i]);
    // In groups, each checked after: a value moved, unpublished; replaced
    // as a draft over the live version (the published view keeps its
    // value), a value cleared; a cleared value set, another field changed,
    // a delete; a restore, a delete, a draft published with a new value.
    let groups: Vec<Vec<(&str, String, Option<Value>)>> = vec![
        vec![
            ("PATCH", item(0), Some(json!({"fields": {"city": "rome"}}))),
            ("POST", format!("{}unpublish/", item(1)), None),
        ],
        vec![
            (
                "PUT",
                item(2),
                Some(json!({"status": "draft", "fields": {"name": "x", "city": "oslo"}})),
            ),
            ("PATCH", item(3), Some(json!({"fields": {"city": null}}))),
        ],
        vec![
            ("PATCH", item(3), Some(json!({"fields": {"city": "lima"}}))),
            (
                "PATCH",
                item(4),
                Some(json!({"fields": {"name": "renamed"}})),
            ),
            ("DELETE", item(5), None),
        ],
        vec![
            ("POST", format!("{}restore/", item(5)), None),
            ("DELETE", item(6), None),
            (
                "PUT",
                item(31),
                Some(json!({"status": "published", "fields": {"name": "y", "city": "rome"}})),
            ),
        ],
    ];
    for group in groups {
        for (method, path, body) in group {
            let status = send(&t, method, &path, body).await;
            assert!(status < 300, "{method} {path}: {status}");
        }
        assert_counts(&t, &truth(&t, small).await, LOADED).await;
    }
    let batch: Vec<&String> = small[7..20].iter().collect();
    let r = t
        .request(
            "POST",
            "/v2/content/shops/batch-delete/",
            Some(json!(batch)),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_counts(&t, &truth(&t, small).await, LOADED).await;
    for id in &small[7..10] {
        let status = send(
            &t,
            "POST",
            &format!("/v2/content/shops/{id}/restore/"),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_counts(&t, &truth(&t, small).await, LOADED).await;
    t.drop_table().await;
}

/// A small deterministic generator for the writers' choices.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[tokio::test]
async fn value_counts_stay_exact_under_racing_writes_and_a_build() {
    let t = TestApp::spawn_with(&[]).await;
    assert_eq!(t.put_collection("shops", schema(false)).await.status, 201);
    let ids = shops(&t, "published", 40).await;
    // Indexed now: building, while six writers race the build.
    let r = t.put_collection("shops", schema(true)).await;
    assert_eq!(r.body["building"], json!(["city"]), "{:?}", r.body);
    let key = CollectionKey::parse("shops").unwrap();
    let writer = |seed: u64| {
        let (t, ids) = (&t, &ids);
        async move {
            let mut rng = Lcg(seed);
            for _ in 0..12 {
                let path = format!("/v2/content/shops/{}/", ids[rng.below(ids.len())]);
                let city = CITIES[rng.below(3)];
                let (method, path, body) = match rng.below(6) {
                    0 | 1 => ("PATCH", path, Some(json!({"fields": {"city": city}}))),
                    2 => match rng.below(3) {
                        0 => ("POST", format!("{path}unpublish/"), None),
                        n => {
                            let status = ["draft", "published"][n - 1];
                            ("PATCH", path, Some(json!({"status": status})))
                        }
                    },
                    3 => (
                        "PUT",
                        path,
                        Some(json!({"fields": {"name": "p", "city": city}})),
                    ),
                    4 => ("DELETE", path, None),
                    _ => ("POST", format!("{path}restore/"), None),
                };
                let status = send(t, method, &path, body).await;
                // 404: deleting a deleted item, restoring a live one; 409:
                // the item kept changing.
                assert!(
                    status < 300 || status == 404 || status == 409,
                    "{method} {path}: {status}"
                );
            }
        }
    };
    let build = async {
        t.app
            .store
            .reindex(&t.org, &key, false, Duration::ZERO)
            .await
            .unwrap_or_else(|e| panic!("the build: {e:?}"))
    };
    let (built, ..) = tokio::join!(
        build,
        writer(1),
        writer(2),
        writer(3),
        writer(4),
        writer(5),
        writer(6)
    );
    assert!(built.items <= ids.len(), "{built:?}");
    // The writers met entries the build had moved (or not yet written)
    // and learned them: the path this test is about was taken.
    assert!(t.app.store.entries_relearned() > 0);
    t.app.forget_collection(&t.org, &key);
    let r = t.request("GET", "/v2/collections/shops/", None).await;
    assert_eq!(r.body["building"], json!([]), "{:?}", r.body);
    assert_counts(&t, &truth(&t, &ids).await, 0).await;

    // And with the index serving, racing writes again.
    tokio::join!(writer(7), writer(8), writer(9), writer(10));
    assert_counts(&t, &truth(&t, &ids).await, 0).await;
    t.drop_table().await;
}

#[tokio::test]
async fn entries_written_before_value_counts_are_counted_once_built() {
    let t = TestApp::spawn_with(&[]).await;
    assert_eq!(t.put_collection("shops", schema(true)).await.status, 201);
    let ids = shops(&t, "published", 12).await;
    // As a stack upgraded from before value counts holds them: entries
    // without `counted`, no value counts, a collection not `counted`.
    let ddb = t.app.store.client();
    let table = &t.table;
    let key = CollectionKey::parse("shops").unwrap();
    for id in &ids {
        ddb.update_item()
            .table_name(table)
            .set_key(Some(folio::store::keys::entry(
                &t.org,
                &key,
                &ItemId::parse(id).unwrap(),
                "city",
                false,
            )))
            .update_expression("REMOVE #c")
            .expression_attribute_names("#c", folio::store::keys::COUNTED)
            .send()
            .await
            .unwrap();
    }
    let mut removed = 0;
    for side in folio::store::keys::Side::ALL {
        let partition = folio::store::keys::field_partition(&t.org, &key, "city", side);
        let counts = ddb
            .query()
            .table_name(table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", S(folio::store::keys::value_count_pk(&partition)))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        for item in counts.items() {
            let k = ["pk", "sk"]
                .map(|a| (a.to_owned(), item[a].clone()))
                .into_iter()
                .collect();
            ddb.delete_item()
                .table_name(table)
                .set_key(Some(k))
                .send()
                .await
                .unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0, "value counts were kept");
    ddb.update_item()
        .table_name(table)
        .set_key(Some(folio::store::keys::collection(&t.org, &key)))
        .update_expression("REMOVE #c")
        .expression_attribute_names("#c", "counted")
        .send()
        .await
        .unwrap();
    t.app.forget_collection(&t.org, &key);

    // A count shard of a value no item holds: not read while the
    // collection counts by keys, read once it counts by shards.
    let published = folio::store::keys::field_partition(
        &t.org,
        &key,
        "city",
        folio::store::keys::Side::Published,
    );
    let paris = match filter(Kind::Text, "paris") {
        Filter::Prefix(p) => p.trim_end_matches('#').to_owned(),
        _ => unreachable!(),
    };
    let mut bogus = folio::store::keys::value_count(&published, &paris, 3);
    bogus.insert(
        "n".into(),
        aws_sdk_dynamodb::types::AttributeValue::N("100".into()),
    );
    ddb.put_item()
        .table_name(table)
        .set_item(Some(bogus))
        .send()
        .await
        .unwrap();
    let paris_count = || async {
        let r = t
            .request("GET", "/v2/content/shops/?fields.city=paris", None)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["meta"]["count"].clone()
    };
    assert_eq!(paris_count().await, 0, "counted by keys");

    // Counted by their keys meanwhile, also after writes that adopt some.
    assert_counts(&t, &truth(&t, &ids).await, 0).await;
    for (i, city) in [(0, "rome"), (1, "rome"), (2, "oslo")] {
        let path = format!("/v2/content/shops/{}/", ids[i]);
        let status = send(&t, "PATCH", &path, Some(json!({"fields": {"city": city}}))).await;
        assert_eq!(status, 202);
    }
    assert_eq!(
        send(
            &t,
            "DELETE",
            &format!("/v2/content/shops/{}/", ids[3]),
            None
        )
        .await,
        204
    );
    assert_counts(&t, &truth(&t, &ids).await, 0).await;

    // Built again: every entry counted, and the count read from the shards.
    let built = t
        .app
        .store
        .reindex(&t.org, &key, true, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((built.purged, built.items), (11, 11), "{built:?}");
    t.app.forget_collection(&t.org, &key);
    let c = t.stored_collection(&key).await;
    assert!(c.counted);
    assert_counts(&t, &truth(&t, &ids).await, 0).await;
    assert_eq!(paris_count().await, 100, "read from the count shards");
    t.drop_table().await;
}
