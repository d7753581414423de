//! `list_scale`: list requests against collections of 1,000, 100,000 and
//! (with `FOLIO_BENCH_LIST_SIZES`) 1,000,000 items, loaded directly through
//! the store (`Store::load_items`, batch writes, not HTTP). Per size and
//! case (creation order, last-write order, an indexed order, a filter on
//! an indexed field and, at 1,000, one on an unindexed field): p50/p99,
//! DynamoDB read capacity per request, and the heap a request held at its
//! peak (the bench's counting allocator), in the published view and in
//! preview: one item in ten is a draft, and one in ten has a draft over
//! its live version (another city, a later write). Plus pages of 350 KB
//! items, the memory bound's case.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use folio::content::{ItemRecord, Status};
use folio::ids::{CollectionKey, ItemId};
use serde_json::{json, Value};

use super::{ms, percentile, round3, Bench, Budget};

/// The system allocator, counting the bytes held now and their peak.
pub struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let now = HELD.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                HELD.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Starts a peak measurement: the peak is reset to what is held now.
fn peak_start() -> usize {
    let now = HELD.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Heap held above `base` at the peak since `peak_start`, in MB.
fn peak_mb(base: usize) -> f64 {
    PEAK.load(Ordering::Relaxed).saturating_sub(base) as f64 / 1_048_576.0
}

fn record(
    b: &Bench,
    collection: &CollectionKey,
    n: usize,
    fields: BTreeMap<String, Value>,
) -> ItemRecord {
    // Updated times spread over a day, so the last-write order differs from
    // creation order.
    let at = format!(
        "2026-11-{:02}T{:02}:{:02}:{:02}.000000Z",
        1 + (n * 7919) % 28,
        (n * 31) % 24,
        (n * 17) % 60,
        n % 60
    );
    let status = if n % 10 == 9 {
        Status::Draft
    } else {
        Status::Published
    };
    let item = ItemRecord::new(&b.t.org, collection, status, &at, fields);
    // One item in ten has a draft over its live version: a newer write,
    // another city (so each view's filter finds other items). Not the
    // 350 KB items (no city): two such versions would not fit one 400 KB
    // record, which the API refuses with a 413.
    if n % 10 != 8 || !item.fields.contains_key("city") {
        return item;
    }
    let mut draft = item.fields.clone();
    draft.insert("city".into(), json!(format!("city {}", (n + 1) % 10)));
    let at = format!("2026-11-29T{:02}:{:02}:00.000000Z", (n * 13) % 24, n % 60);
    item.written(Some(Status::Draft), draft, Vec::new(), &at)
}

/// Loads `n` items into a new collection; returns its key and the time taken.
async fn load(
    b: &Bench,
    n: usize,
    item: impl Fn(usize) -> BTreeMap<String, Value>,
) -> (String, f64) {
    let key = format!("scale_{n}_{}", ItemId::new().to_string().to_lowercase());
    let r =
        b.t.put_collection(
            &key,
            json!({"name": "Scale", "fields": [
                {"key": "name", "type": "text", "required": true},
                {"key": "role", "type": "dropdown", "options": ["engineer", "designer"]},
                {"key": "age", "type": "number", "indexed": true},
                {"key": "city", "type": "text", "indexed": true},
                {"key": "bio", "type": "long_text"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let collection = CollectionKey::parse(&key).unwrap();
    let indexing = b.t.app.indexing(&b.t.org, &collection).await.unwrap();
    let started = Instant::now();
    // In slices, so a million records never sit in memory at once.
    const SLICE: usize = 10_000;
    let mut done = 0;
    while done < n {
        let records: Vec<ItemRecord> = (done..(done + SLICE).min(n))
            .map(|i| record(b, &collection, i, item(i)))
            .collect();
        b.t.app.store.load_items(&records, &indexing).await.unwrap();
        done += records.len();
        if n >= 100_000 && done % 50_000 == 0 {
            eprintln!(
                "bench: list_scale: {done}/{n} loaded ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    (key, started.elapsed().as_secs_f64())
}

/// `requests` GETs of `paths` (cycled): p50/p99, capacity and peak heap.
async fn measure(b: &Bench, paths: &[String], requests: usize) -> Value {
    let mut wall = Vec::with_capacity(requests);
    let mut capacity = 0.0;
    let mut peak: f64 = 0.0;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let budget = Budget::secs(30.0);
    for i in 0..requests {
        if i > 0 && budget.spent() {
            break;
        }
        let base = peak_start();
        let (status, elapsed, usage) = b.call("GET", &paths[i % paths.len()], None).await;
        peak = peak.max(peak_mb(base));
        wall.push(ms(elapsed));
        capacity += usage.capacity_units;
        *statuses.entry(status).or_default() += 1;
    }
    wall.sort_by(f64::total_cmp);
    json!({
        "requests": wall.len(),
        "statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "p50_ms": percentile(&wall, 0.5),
        "p99_ms": percentile(&wall, 0.99),
        "capacity_units": round3(capacity / wall.len().max(1) as f64),
        "peak_mb": round3(peak),
    })
}

pub async fn list_scale(sizes: &[usize], requests: usize) -> Value {
    let b = Bench::new_with(&[]).await;
    let mut out = serde_json::Map::new();
    for &n in sizes {
        let (key, load_s) = load(&b, n, |i| {
            BTreeMap::from([
                ("name".to_owned(), json!(format!("Person {i}"))),
                (
                    "role".to_owned(),
                    json!(if i % 3 == 0 { "designer" } else { "engineer" }),
                ),
                ("age".to_owned(), json!(i % 90)),
                ("city".to_owned(), json!(format!("city {}", i % 10))),
                ("bio".to_owned(), json!("x".repeat(200))),
            ])
        })
        .await;
        eprintln!("bench: list_scale: {n} items loaded in {load_s:.1} s");
        let pages = |q: &str| -> Vec<String> {
            (1..=5)
                .map(|p| format!("/v2/content/{key}/?page_size=10&page={p}{q}"))
                .collect()
        };
        let mut cases = serde_json::Map::new();
        cases.insert(
            "default_order".into(),
            measure(&b, &pages(""), requests).await,
        );
        cases.insert(
            "updated_order".into(),
            measure(&b, &pages("&order=-updated_at"), requests).await,
        );
        cases.insert(
            "indexed_order".into(),
            measure(&b, &pages("&order=-age"), requests).await,
        );
        cases.insert(
            "indexed_filter".into(),
            measure(&b, &pages("&fields.city=city%203"), requests).await,
        );
        if n <= 1_000 {
            cases.insert(
                "unindexed_filter".into(),
                measure(&b, &pages("&fields.role=designer"), requests).await,
            );
        }
        // The preview view: drafts, and the newer draft of the items that
        // have one (10 % each), the same cases.
        for (name, q) in [
            ("preview_default_order", "&preview=1"),
            ("preview_updated_order", "&order=-updated_at&preview=1"),
            ("preview_indexed_order", "&order=-age&preview=1"),
            ("preview_indexed_filter", "&fields.city=city%203&preview=1"),
        ] {
            cases.insert(name.into(), measure(&b, &pages(q), requests).await);
        }
        cases.insert("load_s".into(), json!(round3(load_s)));
        out.insert(n.to_string(), Value::Object(cases));
    }
    // The memory bound: 60 items of 350 KB, pages of up to 100 asked for.
    let (key, _) = load(&b, 60, |i| {
        BTreeMap::from([
            ("name".to_owned(), json!(format!("Large {i}"))),
            ("bio".to_owned(), json!("y".repeat(350 * 1024))),
        ])
    })
    .await;
    let path = vec![format!("/v2/content/{key}/?page_size=100&preview=1")];
    let mut large = measure(&b, &path, 20).await;
    let r = b.t.request("GET", &path[0], None).await;
    large["items_per_page"] = json!(r.body["data"][&key].as_array().map_or(0, Vec::len));
    out.insert("large_items_350kb".into(), json!({"default_order": large}));
    b.t.drop_table().await;
    Value::Object(out)
}
