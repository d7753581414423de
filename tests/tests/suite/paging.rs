//! Listings paged by DynamoDB (`store::pages`, `store::entries`), against
//! DynamoDB Local: pages by number and by cursor, in creation and last-write
//! order, by indexed fields and filtered on one, equal the pages of the full
//! set sorted in memory (a model), also while items change between pages;
//! and page 1 of a large collection reads only the page.

use std::collections::BTreeMap;

use folio::content::{ItemRecord, State, Status};
use folio::ids::{CollectionKey, ItemId};
use folio::store::entries::Indexing;
use folio_tests::{folio, listed_ids, TestApp};
use proptest::prelude::*;
use serde_json::{json, Value};

fn record(t: &TestApp, collection: &str, status: Status, updated_at: &str, n: usize) -> ItemRecord {
    let collection = CollectionKey::parse(collection).unwrap();
    let fields = BTreeMap::from([("name".to_owned(), json!(format!("item {n}")))]);
    ItemRecord::new(&t.org, &collection, status, updated_at, fields)
}

/// Values of the model's indexed fields: a few, so that ties are common.
const TAGS: [&str; 3] = ["alpha", "beta", "b"];

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
            record(&t, "team_members", status, &folio::clock::now(), n)
        })
        .collect();
    let started = std::time::Instant::now();
    t.app
        .store
        .load_items(&records, &Indexing::none())
        .await
        .unwrap();
    eprintln!("loaded 5,000 items in {:?}", started.elapsed());
    // Creation order is id order (ids made in one millisecond order by
    // their random part).
    let mut records = records;
    records.sort_by_key(|r| r.id);
    let published: Vec<&ItemRecord> = records
        .iter()
        .filter(|r| r.status == State::Published)
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
    assert_eq!(listed_ids(&r.body, "team_members"), want);
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
    assert_eq!(listed_ids(&r.body, "team_members"), want);

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
    assert_eq!(listed_ids(&last.body, "team_members"), want);
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
    t.app
        .store
        .load_items(&records, &Indexing::none())
        .await
        .unwrap();
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
        assert_eq!(listed_ids(&r.body, "team_members"), Vec::<String>::new());
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
        listed_ids(&r.body, "team_members"),
        vec![records[0].id.to_string()]
    );
    assert_eq!(r.body["meta"]["count"], 3);
}

/// An order a listing asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Created,
    Updated,
    /// By the indexed number field `rank`.
    Rank,
    /// By the indexed text field `tag`.
    Tag,
}

/// What a listing asks for.
#[derive(Debug, Clone)]
struct Listing {
    order: Order,
    descending: bool,
    preview: bool,
    page_size: usize,
    /// `fields.rank=` (true) or `fields.tag=` (false), and the value.
    filter: Option<(bool, String)>,
}

/// A field's value in the model's sort key: its order is the field's
/// (ranks are small whole numbers, tags lowercase words), missing last.
fn model_value(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => format!("{:03}", n.as_u64().unwrap()),
        Some(Value::String(s)) => s.clone(),
        _ => "~".into(),
    }
}

impl Listing {
    fn query(&self) -> String {
        let order = match self.order {
            Order::Created => "created_at",
            Order::Updated => "updated_at",
            Order::Rank => "rank",
            Order::Tag => "tag",
        };
        let dash = if self.descending { "-" } else { "" };
        let filter = match &self.filter {
            Some((true, v)) => format!("&fields.rank={v}"),
            Some((false, v)) => format!("&fields.tag={v}"),
            None => String::new(),
        };
        format!(
            "order={dash}{order}&page_size={}&preview={}{filter}",
            self.page_size,
            u8::from(self.preview)
        )
    }

    /// The sort key of an item in this listing, None when it is not listed.
    fn key(&self, i: &ItemRecord) -> Option<String> {
        if i.deleted_at.is_some() {
            return None;
        }
        // The view's version of the item: its live one without preview.
        let i = &i.clone().in_view(self.preview)?;
        let matched = match &self.filter {
            None => true,
            Some((true, v)) => i.fields.get("rank") == Some(&json!(v.parse::<u64>().unwrap())),
            Some((false, v)) => i.fields.get("tag") == Some(&json!(v)),
        };
        matched.then(|| match self.order {
            Order::Created => i.id.to_string(),
            Order::Updated => format!("{}#{}", i.updated_at, i.id),
            Order::Rank => format!("{}\u{0}{}", model_value(i.fields.get("rank")), i.id),
            Order::Tag => format!("{}\u{0}{}", model_value(i.fields.get("tag")), i.id),
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
    /// PATCH `rank` (None: remove it).
    Rerank(usize, Option<u8>),
    /// PUT every field, `tag` changed (None: without it).
    Retag(usize, Option<usize>),
}

fn listing() -> impl Strategy<Value = Listing> {
    let order = prop_oneof![
        Just(Order::Created),
        Just(Order::Updated),
        Just(Order::Rank),
        Just(Order::Tag),
    ];
    let filter = proptest::option::weighted(
        0.4,
        prop_oneof![
            (0u8..4).prop_map(|r| (true, r.to_string())),
            (0..TAGS.len()).prop_map(|t| (false, TAGS[t].to_owned())),
        ],
    );
    (order, any::<bool>(), any::<bool>(), 1usize..6, filter).prop_map(
        |(order, descending, preview, page_size, filter)| {
            // A filter is served with creation order or its own field's.
            let order = match (&filter, order) {
                (Some(_), Order::Updated) => Order::Created,
                (Some((true, _)), Order::Tag) => Order::Rank,
                (Some((false, _)), Order::Rank) => Order::Tag,
                (_, o) => o,
            };
            Listing {
                order,
                descending,
                preview,
                page_size,
                filter,
            }
        },
    )
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0usize..64).prop_map(Change::Rename),
        (0usize..64).prop_map(Change::Toggle),
        (0usize..64).prop_map(Change::Delete),
        (0usize..64).prop_map(Change::Restore),
        (0usize..64, proptest::option::of(0u8..4)).prop_map(|(i, r)| Change::Rerank(i, r)),
        (0usize..64, proptest::option::of(0..TAGS.len())).prop_map(|(i, t)| Change::Retag(i, t)),
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
            // Through every state: a draft over the live version, then
            // unpublished, then published again.
            match now.status {
                State::Published => ("PATCH", path(*i), Some(json!({"status": "draft"}))),
                State::PublishedWithDraft => (
                    "POST",
                    format!("/v2/content/{collection}/{id}/unpublish/"),
                    None,
                ),
                State::Draft => ("PATCH", path(*i), Some(json!({"status": "published"}))),
            }
        }
        Change::Delete(i) => ("DELETE", path(*i), None),
        Change::Rerank(i, rank) => ("PATCH", path(*i), Some(json!({"fields": {"rank": rank}}))),
        Change::Retag(i, tag) => {
            let mut fields = json!({"name": format!("retagged {i}"), "rank": 1});
            if let Some(t) = tag {
                fields["tag"] = json!(TAGS[*t]);
            }
            ("PUT", path(*i), Some(json!({"fields": fields})))
        }
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

    /// Random items (drafts and published, write times with ties, indexed
    /// values with ties or missing), random listings (creation, last-write
    /// and indexed orders, filters on indexed fields): pages by number
    /// equal the model's slices with Butter's meta; a walk by cursor, with
    /// items renamed, (un)published, re-ranked and re-tagged (PATCH, PUT),
    /// deleted and restored between pages, shows after each cursor exactly
    /// the model's next entries at that moment.
    #[test]
    fn pages_equal_the_sorted_full_set(
        statuses in proptest::collection::vec(
            (any::<bool>(), 0u8..4, proptest::option::of(0u8..4), proptest::option::of(0..TAGS.len())),
            1..30,
        ),
        listings in proptest::collection::vec(listing(), 1..4),
        changes in proptest::collection::vec(proptest::option::of(change()), 0..12),
    ) {
        RUNTIME.block_on(async {
            let t = shared_app().await;
            let key = format!("c{}", ItemId::new().to_string().to_lowercase());
            let r = t.put_collection(&key, json!({"name": "Paged", "fields": [
                {"key": "name", "type": "text", "required": true},
                {"key": "rank", "type": "number", "indexed": true},
                {"key": "tag", "type": "text", "indexed": true}
            ]})).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            let collection = CollectionKey::parse(&key).unwrap();
            let records: Vec<ItemRecord> = statuses
                .iter()
                .enumerate()
                .map(|(n, (published, slot, rank, tag))| {
                    let status = if *published { Status::Published } else { Status::Draft };
                    let at = format!("2026-01-01T00:00:0{slot}.000000Z");
                    let mut r = record(t, &key, status, &at, n);
                    if let Some(rank) = rank {
                        r.fields.insert("rank".into(), json!(rank));
                    }
                    if let Some(tag) = tag {
                        r.fields.insert("tag".into(), json!(TAGS[*tag]));
                    }
                    r
                })
                .collect();
            let indexing = t.app.indexing(&t.org, &collection).await.unwrap();
            t.app.store.load_items(&records, &indexing).await.unwrap();
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
                    assert_eq!(listed_ids(&r.body, &key), want, "{l:?} page {page}");
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
                    assert_eq!(listed_ids(&r.body, &key), want, "{l:?} step {step}");
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
