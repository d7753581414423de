//! Listings paged by DynamoDB (`store::pages`), against DynamoDB Local:
//! pages by number and by cursor equal the pages of the full set sorted in
//! memory (a model), also while items change between pages; and page 1 of
//! a large collection reads only the page.

#![recursion_limit = "256"]

use std::collections::BTreeMap;

use folio::content::{ItemRecord, Status};
use folio::ids::{CollectionKey, ItemId};
use folio_tests::{folio, TestApp};
use proptest::prelude::*;
use serde_json::{json, Value};

fn record(t: &TestApp, collection: &str, status: Status, updated_at: &str, n: usize) -> ItemRecord {
    let collection = CollectionKey::parse(collection).unwrap();
    let fields = BTreeMap::from([("name".to_owned(), json!(format!("item {n}")))]);
    ItemRecord::new(&t.org, &collection, status, updated_at, fields)
}

fn ids(r: &Value, collection: &str) -> Vec<String> {
    r["data"][collection]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {r}"))
        .iter()
        .map(|i| i["meta"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn page_1_of_5000_items_reads_only_the_page() {
    let t = TestApp::spawn_with(&[]).await;
    let records: Vec<ItemRecord> = (0..5_000)
        .map(|n| {
            let status = if n % 5 == 0 {
                Status::Draft
            } else {
                Status::Published
            };
            record(&t, "team_members", status, &folio::api::now(), n)
        })
        .collect();
    let started = std::time::Instant::now();
    t.app.store.load_items(&records).await.unwrap();
    eprintln!("loaded 5,000 items in {:?}", started.elapsed());
    // Creation order is id order (ids made in one millisecond order by
    // their random part).
    let mut records = records;
    records.sort_by_key(|r| r.id);
    let published: Vec<&ItemRecord> = records
        .iter()
        .filter(|r| r.status == Status::Published)
        .collect();

    let meter = t.app.store.read_meter();
    let before = meter.units();
    let r = t
        .request("GET", "/v2/content/team_members/?page_size=10", None)
        .await;
    let used = meter.units() - before;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["meta"]["count"], 4_000);
    assert_eq!(r.body["meta"]["next_page"], 2);
    let want: Vec<String> = published[..10].iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids(&r.body, "team_members"), want);
    // Reading all 5,000 (~100 bytes each, ~0.5 MB) would cost ~60 units;
    // the page costs its count shards, 11 keys and 10 items.
    eprintln!("page 1 of 5,000 items: {used} read capacity units");
    assert!(used > 0.0, "DynamoDB reports the capacity it used");
    assert!(used <= 8.0, "page 1 read {used} units");

    // Preview, newest first: drafts merge in.
    let r = t
        .request(
            "GET",
            "/v2/content/team_members/?page_size=3&preview=1&order=-created_at",
            None,
        )
        .await;
    assert_eq!(r.body["meta"]["count"], 5_000);
    let want: Vec<String> = records[4_997..]
        .iter()
        .rev()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids(&r.body, "team_members"), want);

    // The last page by cursor, walked from page 399's cursor.
    let r = t
        .request(
            "GET",
            "/v2/content/team_members/?page=399&page_size=10",
            None,
        )
        .await;
    let cursor = r.body["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let before = meter.units();
    let last = t
        .request(
            "GET",
            &format!("/v2/content/team_members/?page_size=10&cursor={cursor}"),
            None,
        )
        .await;
    let used = meter.units() - before;
    let want: Vec<String> = published[3_990..]
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids(&last.body, "team_members"), want);
    assert_eq!(last.body["meta"]["next_cursor"], Value::Null);
    assert!(used <= 8.0, "a page by cursor read {used} units");
    t.drop_table().await;
}

#[tokio::test]
async fn a_cursor_from_before_updated_after_is_an_empty_page_not_an_error() {
    let t = TestApp::spawn_with(&[]).await;
    let records: Vec<ItemRecord> = (0..3)
        .map(|n| {
            record(
                &t,
                "team_members",
                Status::Published,
                &format!("2026-01-0{}T00:00:00.000000Z", n + 1),
                n,
            )
        })
        .collect();
    t.app.store.load_items(&records).await.unwrap();
    let r = t
        .request(
            "GET",
            "/v2/content/team_members/?order=-updated_at&page_size=2",
            None,
        )
        .await;
    let cursor = r.body["meta"]["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    // The walk's "since" moves past the cursor's position.
    for since in ["2026-06-01T00:00:00Z", "2026-01-02T00:00:00Z"] {
        let r = t
            .request(
                "GET",
                &format!("/v2/content/team_members/?order=-updated_at&page_size=2&cursor={cursor}&updated_after={since}"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{since}: {:?}", r.body);
        assert_eq!(ids(&r.body, "team_members"), Vec::<String>::new());
        assert_eq!(r.body["meta"]["next_cursor"], Value::Null);
    }
    // Before the cursor's time, the walk goes on from it.
    let r = t
        .request(
            "GET",
            &format!("/v2/content/team_members/?order=-updated_at&page_size=2&cursor={cursor}&updated_after=2025-12-31T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(
        ids(&r.body, "team_members"),
        vec![records[0].id.to_string()]
    );
    assert_eq!(r.body["meta"]["count"], 3);
}

/// What a listing asks for.
#[derive(Debug, Clone)]
struct Listing {
    updated: bool,
    descending: bool,
    preview: bool,
    page_size: usize,
}

impl Listing {
    fn query(&self) -> String {
        let order = match (self.updated, self.descending) {
            (false, false) => "created_at",
            (false, true) => "-created_at",
            (true, false) => "updated_at",
            (true, true) => "-updated_at",
        };
        format!(
            "order={order}&page_size={}&preview={}",
            self.page_size,
            u8::from(self.preview)
        )
    }

    /// The sort key of an item in this listing, None when it is not listed.
    fn key(&self, i: &ItemRecord) -> Option<String> {
        let listed = i.deleted_at.is_none() && (self.preview || i.status == Status::Published);
        listed.then(|| match self.updated {
            false => i.id.to_string(),
            true => format!("{}#{}", i.updated_at, i.id),
        })
    }

    /// The model: every listed item, sorted in memory.
    fn sorted(&self, items: &[ItemRecord]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = items
            .iter()
            .filter_map(|i| self.key(i).map(|k| (k, i.id.to_string())))
            .collect();
        v.sort();
        if self.descending {
            v.reverse();
        }
        v
    }
}

/// A change made between two pages.
#[derive(Debug, Clone)]
enum Change {
    Rename(usize),
    Toggle(usize),
    Delete(usize),
    Restore(usize),
}

fn listing() -> impl Strategy<Value = Listing> {
    (any::<bool>(), any::<bool>(), any::<bool>(), 1usize..6).prop_map(
        |(updated, descending, preview, page_size)| Listing {
            updated,
            descending,
            preview,
            page_size,
        },
    )
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0usize..64).prop_map(Change::Rename),
        (0usize..64).prop_map(Change::Toggle),
        (0usize..64).prop_map(Change::Delete),
        (0usize..64).prop_map(Change::Restore),
    ]
}

async fn stored(t: &TestApp, collection: &CollectionKey, ids: &[ItemId]) -> Vec<ItemRecord> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            t.app
                .store
                .get_item(&t.org, collection, id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    out
}

async fn apply(t: &TestApp, collection: &str, ids: &[ItemId], change: &Change) {
    let path = |i: usize| format!("/v2/content/{collection}/{}/", ids[i % ids.len()]);
    let (method, path, body) = match change {
        Change::Rename(i) => (
            "PATCH",
            path(*i),
            Some(json!({"fields": {"name": format!("renamed {i}")}})),
        ),
        Change::Toggle(i) => {
            let id = ids[i % ids.len()];
            let c = CollectionKey::parse(collection).unwrap();
            let now = t
                .app
                .store
                .get_item(&t.org, &c, &id)
                .await
                .unwrap()
                .unwrap();
            let status = if now.status == Status::Published {
                "draft"
            } else {
                "published"
            };
            ("PATCH", path(*i), Some(json!({"status": status})))
        }
        Change::Delete(i) => ("DELETE", path(*i), None),
        Change::Restore(i) => (
            "POST",
            format!("/v2/content/{collection}/{}/restore/", ids[i % ids.len()]),
            None,
        ),
    };
    let r = t.request(method, &path, body).await;
    // A delete of a deleted item or a restore of a live one is a 404.
    assert!(
        matches!(r.status, 202 | 204 | 200 | 404),
        "{method} {path}: {:?}",
        r.body
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random items (drafts and published, write times with ties), random
    /// listings: pages by number equal the model's slices with Butter's
    /// meta; a walk by cursor, with items renamed, (un)published, deleted
    /// and restored between pages, shows after each cursor exactly the
    /// model's next entries at that moment.
    #[test]
    fn pages_equal_the_sorted_full_set(
        statuses in proptest::collection::vec((any::<bool>(), 0u8..4), 1..30),
        listings in proptest::collection::vec(listing(), 1..4),
        changes in proptest::collection::vec(proptest::option::of(change()), 0..12),
    ) {
        RUNTIME.block_on(async {
            let t = shared_app().await;
            let key = format!("c{}", ItemId::new().to_string().to_lowercase());
            let r = t.put_collection(&key, json!({"name": "Paged", "fields": [
                {"key": "name", "type": "text", "required": true}
            ]})).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            let collection = CollectionKey::parse(&key).unwrap();
            let records: Vec<ItemRecord> = statuses
                .iter()
                .enumerate()
                .map(|(n, (published, slot))| {
                    let status = if *published { Status::Published } else { Status::Draft };
                    let at = format!("2026-01-01T00:00:0{slot}.000000Z");
                    record(t, &key, status, &at, n)
                })
                .collect();
            t.app.store.load_items(&records).await.unwrap();
            let item_ids: Vec<ItemId> = records.iter().map(|r| r.id).collect();

            for l in &listings {
                // By page number.
                let model = l.sorted(&stored(t, &collection, &item_ids).await);
                let pages = model.len().div_ceil(l.page_size).max(1);
                for page in 1..=pages + 1 {
                    let r = t.request("GET", &format!("/v2/content/{key}/?{}&page={page}", l.query()), None).await;
                    assert_eq!(r.status, 200, "{:?}", r.body);
                    let from = ((page - 1) * l.page_size).min(model.len());
                    let to = (from + l.page_size).min(model.len());
                    let want: Vec<String> = model[from..to].iter().map(|(_, id)| id.clone()).collect();
                    assert_eq!(ids(&r.body, &key), want, "{l:?} page {page}");
                    assert_eq!(r.body["meta"]["count"], json!(model.len()));
                    assert_eq!(r.body["meta"]["next_page"], json!((to < model.len()).then_some(page + 1)));
                    assert_eq!(r.body["meta"]["previous_page"], json!((page > 1).then(|| page - 1)));
                }

                // By cursor, with changes between pages.
                let mut cursor: Option<String> = None;
                let mut last: Option<String> = None;
                for step in 0..(changes.len() + 40) {
                    let q = match &cursor {
                        Some(c) => format!("/v2/content/{key}/?{}&cursor={c}", l.query()),
                        None => format!("/v2/content/{key}/?{}", l.query()),
                    };
                    let r = t.request("GET", &q, None).await;
                    assert_eq!(r.status, 200, "{:?}", r.body);
                    let model = l.sorted(&stored(t, &collection, &item_ids).await);
                    let after: Vec<&(String, String)> = model
                        .iter()
                        .filter(|(k, _)| last.as_ref().is_none_or(|c| if l.descending { k < c } else { k > c }))
                        .collect();
                    let want: Vec<String> = after.iter().take(l.page_size).map(|(_, id)| id.clone()).collect();
                    assert_eq!(ids(&r.body, &key), want, "{l:?} step {step}");
                    match r.body["meta"]["next_cursor"].as_str() {
                        Some(c) => {
                            assert!(after.len() > l.page_size, "a cursor only when more follow");
                            cursor = Some(c.to_owned());
                            last = Some(after[l.page_size - 1].0.clone());
                        }
                        None => {
                            assert!(after.len() <= l.page_size, "{l:?}: more follow without a cursor");
                            break;
                        }
                    }
                    if let Some(Some(c)) = changes.get(step) {
                        apply(t, &key, &item_ids, c).await;
                    }
                }
            }
        });
    }
}

/// One runtime and one app (and table) for every case of the model test:
/// the app's clients belong to the runtime they were made in.
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
});

async fn shared_app() -> &'static TestApp {
    static APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();
    APP.get_or_init(|| TestApp::spawn_with(&[])).await
}
