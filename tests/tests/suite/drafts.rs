//! Published with draft (`content::state`): a draft saved over a published
//! item leaves the published version live in every read without
//! `preview` (get, lists in each order, `updated_after`, `?keys=`, keys in
//! the path, expansion, counts, filters and orders on indexed and
//! unindexed fields), while `preview=1` shows the draft; publishing
//! promotes it, an explicit unpublish takes the item off the live site.
//! The pipeline's side (references, webhooks): `drafts_events.rs`.

use std::collections::BTreeSet;

use folio::auth::Scope;
use folio_tests::{folio, listed_ids, TestApp, TestResponse};
use serde_json::{json, Value};

/// `articles`: `city` indexed or not; `note` and `size` never.
pub(crate) fn articles_schema(indexed: bool) -> Value {
    json!({"name": "Articles", "fields": [
        {"key": "title", "type": "text", "required": true},
        {"key": "city", "type": "text", "indexed": indexed},
        {"key": "note", "type": "text"},
        {"key": "size", "type": "number"}
    ]})
}

/// `articles` (`city` indexed) and `posts`, whose `article` references
/// one; an unlocalized org.
pub(crate) async fn app() -> TestApp {
    let t = TestApp::spawn_with(&[]).await;
    let r = t.put_collection("articles", articles_schema(true)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["building"], json!([]), "indexed from the start");
    let posts = json!({"name": "Posts", "fields": [
        {"key": "headline", "type": "text", "required": true},
        {"key": "article", "type": "reference", "collection": "articles"}
    ]});
    assert_eq!(t.put_collection("posts", posts).await.status, 201);
    t
}

/// A published article with `fields`; its id.
pub(crate) async fn published(t: &TestApp, fields: Value) -> String {
    t.create("articles", "published", fields).await
}

pub(crate) fn item(id: &str) -> String {
    format!("/v2/content/articles/{id}/")
}

/// A write that must be accepted; returns the version it answers.
pub(crate) async fn write(t: &TestApp, method: &str, path: &str, body: Value) -> u64 {
    let r = t.request(method, path, Some(body.clone())).await;
    assert_eq!(r.status, 202, "{method} {path} {body}: {:?}", r.body);
    r.body["meta"]["version"].as_u64().expect("a version")
}

/// A read that must answer 200.
pub(crate) async fn read(t: &TestApp, path: &str) -> TestResponse {
    let r = t.request("GET", path, None).await;
    assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    r
}

/// The version an ETag names (`"3"` or `"3-<digest>"`).
fn tag_version(r: &TestResponse) -> u64 {
    let tag = r.header("etag").expect("an ETag").trim_matches('"');
    tag.split('-').next().unwrap().parse().expect("a version")
}

/// `path` with `preview=1` added to its query.
fn previewed(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}preview=1")
}

/// A listing's query with `preview=1` added.
fn previewed_query(query: &str) -> String {
    match query {
        "" => "preview=1".to_owned(),
        q => format!("{q}&preview=1"),
    }
}

/// The ids a listing of articles shows, checked to be listed once each
/// and to be what `meta.count` counts.
pub(crate) async fn listed(t: &TestApp, query: &str) -> Vec<String> {
    let r = read(t, &format!("/v2/content/articles/?{query}")).await;
    let ids = listed_ids(&r.body, "articles");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "{query}: listed twice: {ids:?}"
    );
    assert_eq!(r.body["meta"]["count"], json!(ids.len()), "{query}");
    ids
}

/// Checks that no listing of articles in a view (`preview`: `""` or
/// `"&preview=1"`) shows anything, whatever its filter or order.
pub(crate) async fn none_listed(t: &TestApp, preview: &str) {
    let orders = ["order=city", "order=updated_at"];
    for q in ["", "fields.city=oslo", "fields.city=rome"]
        .iter()
        .chain(&orders)
    {
        let q = format!("{q}{preview}");
        assert_eq!(listed(t, &q).await, Vec::<String>::new(), "{q}");
    }
}

/// Every page of a listing one item a page, by cursor (or page number
/// where the listing is served from memory): the ids in order, and
/// whether the index served it (it hands out cursors).
pub(crate) async fn paged(t: &TestApp, query: &str) -> (Vec<String>, bool) {
    let base = format!("/v2/content/articles/?{query}&page_size=1");
    let mut r = read(t, &base).await;
    let count = r.body["meta"]["count"].as_u64().unwrap() as usize;
    let by_index = r.body["meta"]["next_cursor"].is_string();
    let mut ids = listed_ids(&r.body, "articles");
    loop {
        let meta = &r.body["meta"];
        let next = match (meta["next_cursor"].as_str(), meta["next_page"].as_u64()) {
            (Some(c), _) => format!("{base}&cursor={c}"),
            (None, Some(p)) => format!("{base}&page={p}"),
            (None, None) => break,
        };
        r = read(t, &next).await;
        ids.extend(listed_ids(&r.body, "articles"));
        assert!(
            ids.len() <= count,
            "{query}: more pages than items: {ids:?}"
        );
    }
    assert_eq!(ids.len(), count, "{query}: {ids:?}");
    (ids, by_index)
}

#[tokio::test]
async fn the_live_version_stays_through_draft_edits_in_every_read_path() {
    let t = app().await;
    let a = published(
        &t,
        json!({"title": "A-live", "city": "oslo", "note": "old", "size": 1}),
    )
    .await;
    let b = published(
        &t,
        json!({"title": "B", "city": "rome", "note": "b", "size": 2}),
    )
    .await;
    let since = read(&t, &item(&b)).await.body["meta"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = published(
        &t,
        json!({"title": "C", "city": "lima", "note": "c", "size": 3}),
    )
    .await;
    let p = t
        .create(
            "posts",
            "published",
            json!({"headline": "Hello", "article": a}),
        )
        .await;

    let tag = read(&t, &item(&a)).await.header("etag").unwrap().to_owned();
    // Three draft edits: a PATCH and a PUT saying draft, a PATCH saying nothing.
    let draft = json!({"status": "draft", "fields": {"city": "paris", "note": "mid", "size": 10}});
    assert_eq!(write(&t, "PATCH", &item(&a), draft).await, 2);
    let put = json!({"status": "draft", "fields": {"title": "A-draft", "city": "athens", "note": "new", "size": 10}});
    assert_eq!(write(&t, "PUT", &item(&a), put).await, 3);
    let patch = json!({"fields": {"size": 11}});
    assert_eq!(write(&t, "PATCH", &item(&a), patch).await, 4);

    // The item itself: unchanged for a cache revalidating it.
    let held = [("If-None-Match", tag.as_str())];
    let r = t
        .request_as("GET", &item(&a), None, Some(&t.token), &held)
        .await;
    assert_eq!(r.status, 304, "{:?}", r.body);
    let live = read(&t, &item(&a)).await;
    assert_eq!(
        (&live.body["title"], &live.body["city"], &live.body["note"]),
        (&json!("A-live"), &json!("oslo"), &json!("old"))
    );
    assert_eq!(live.body["size"], 1);
    let meta = &live.body["meta"];
    assert_eq!(meta["status"], "published_with_draft");
    assert_eq!(
        (
            &meta["version"],
            &meta["published_version"],
            &meta["draft_version"]
        ),
        (&json!(1), &json!(1), &json!(4))
    );
    assert_eq!(tag_version(&live), 1, "the published version's tag");
    let newest = read(&t, &previewed(&item(&a))).await;
    assert_eq!(
        (
            &newest.body["title"],
            &newest.body["city"],
            &newest.body["size"]
        ),
        (&json!("A-draft"), &json!("athens"), &json!(11))
    );
    let meta = &newest.body["meta"];
    assert_eq!(meta["status"], "published_with_draft");
    assert_eq!(
        (
            &meta["version"],
            &meta["published_version"],
            &meta["draft_version"]
        ),
        (&json!(4), &json!(1), &json!(4))
    );
    assert_eq!(tag_version(&newest), 4);

    // Lists: (query, published view, preview), each id once, counted once.
    let ids = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases: Vec<(String, Vec<String>, Vec<String>)> = vec![
        ("".into(), ids(&[&a, &b, &c]), ids(&[&a, &b, &c])),
        (
            "order=-created_at".into(),
            ids(&[&c, &b, &a]),
            ids(&[&c, &b, &a]),
        ),
        (
            "order=updated_at".into(),
            ids(&[&a, &b, &c]),
            ids(&[&b, &c, &a]),
        ),
        (
            "order=-updated_at".into(),
            ids(&[&c, &b, &a]),
            ids(&[&a, &c, &b]),
        ),
        (
            format!("updated_after={since}&order=updated_at"),
            ids(&[&c]),
            ids(&[&c, &a]),
        ),
        (format!("updated_after={since}"), ids(&[&c]), ids(&[&a, &c])),
        // The indexed field: filters and its order.
        ("fields.city=oslo".into(), ids(&[&a]), vec![]),
        ("fields.city=athens".into(), vec![], ids(&[&a])),
        ("fields.city=paris".into(), vec![], vec![]),
        ("fields.city=rome".into(), ids(&[&b]), ids(&[&b])),
        ("order=city".into(), ids(&[&c, &a, &b]), ids(&[&a, &c, &b])),
        ("order=-city".into(), ids(&[&b, &a, &c]), ids(&[&b, &c, &a])),
        ("fields.city=oslo&order=-city".into(), ids(&[&a]), vec![]),
        // Unindexed fields: filters and orders in memory.
        ("fields.note=old".into(), ids(&[&a]), vec![]),
        ("fields.note=new".into(), vec![], ids(&[&a])),
        ("fields.note=mid".into(), vec![], vec![]),
        ("fields.title=A-live".into(), ids(&[&a]), vec![]),
        ("order=size".into(), ids(&[&a, &b, &c]), ids(&[&b, &c, &a])),
        ("order=-size".into(), ids(&[&c, &b, &a]), ids(&[&a, &c, &b])),
        (
            "fields.city=oslo&fields.note=old".into(),
            ids(&[&a]),
            vec![],
        ),
        (
            "fields.city=athens&fields.note=new".into(),
            vec![],
            ids(&[&a]),
        ),
    ];
    for (q, public, preview) in &cases {
        assert_eq!(&listed(&t, q).await, public, "{q}");
        assert_eq!(
            &listed(&t, &previewed_query(q)).await,
            preview,
            "{q}&preview=1"
        );
    }
    // One item a page, every page: the same, none seen twice, whether
    // the index serves the listing or memory does (`order=-size`).
    for (q, public, preview) in cases.iter().filter(|(q, ..)| {
        ["", "order=updated_at", "order=city", "order=-size"].contains(&q.as_str())
    }) {
        let by_index = q != "order=-size";
        let want = (public.clone(), by_index);
        assert_eq!(paged(&t, q).await, want, "{q} by page");
        let want = (preview.clone(), by_index);
        let got = paged(&t, &previewed_query(q)).await;
        assert_eq!(got, want, "{q}&preview=1 by page");
    }
    // What a listing shows of the item is its view's version.
    let r = read(&t, "/v2/content/articles/?fields.city=oslo").await;
    assert_eq!(r.body["data"]["articles"][0]["title"], "A-live");
    assert_eq!(r.body["data"]["articles"][0]["meta"]["version"], 1);
    let r = read(&t, "/v2/content/articles/?order=-updated_at&preview=1").await;
    assert_eq!(r.body["data"]["articles"][0]["title"], "A-draft");
    assert_eq!(r.body["data"]["articles"][0]["meta"]["version"], 4);

    // `?keys=`, keys in the path, and expansion from a referrer.
    for (path, title) in [
        (format!("/v2/content/?keys=articles[_id={a}]"), "A-live"),
        (format!("/v2/content/articles[_id={a}]/"), "A-live"),
        (
            format!("/v2/content/?keys=articles[_id={a}]&preview=1"),
            "A-draft",
        ),
        (
            format!("/v2/content/articles[_id={a}]/?preview=1"),
            "A-draft",
        ),
    ] {
        let r = read(&t, &path).await;
        assert_eq!(r.body["data"]["articles"][0]["title"], title, "{path}");
    }
    let r = read(&t, &format!("/v2/content/?keys=articles[_id={a}]")).await;
    assert_eq!(
        tag_version(&r),
        1,
        "a published keys read tags the live version"
    );
    for (query, title, count) in [("", "A-live", 1), ("&preview=1", "A-draft", 4)] {
        let r = read(&t, &format!("/v2/content/?keys=articles{query}")).await;
        assert_eq!(r.body["meta"]["count"], 3, "{query}");
        let shown = r.body["data"]["articles"].as_array().unwrap();
        assert_eq!(shown.len(), 3, "{query}: {shown:?}");
        assert_eq!(shown[0]["title"], title, "{query}");
        let both = read(&t, &format!("/v2/content/articles,posts/?levels=2{query}")).await;
        assert_eq!(both.body["data"]["articles"][0]["title"], title, "{query}");
        let post = &both.body["data"]["posts"][0];
        assert_eq!(post["article"]["title"], title, "{query}: {post}");
        assert_eq!(post["article"]["meta"]["version"], count, "{query}");
        let got = read(&t, &format!("/v2/content/posts/{p}/?levels=2{query}")).await;
        assert_eq!(got.body["article"]["title"], title, "{query}");
        assert_eq!(
            got.body["article"]["city"],
            if count == 1 { "oslo" } else { "athens" }
        );
        let list = read(&t, &format!("/v2/content/posts/?levels=2{query}")).await;
        assert_eq!(list.body["data"]["posts"][0]["article"]["title"], title);
    }
    // A referrer whose draft points elsewhere: each view follows its version.
    let to_c = json!({"status": "draft", "fields": {"article": c}});
    assert_eq!(
        write(&t, "PATCH", &format!("/v2/content/posts/{p}/"), to_c).await,
        2
    );
    for (query, title) in [("", "A-live"), ("&preview=1", "C")] {
        let got = read(&t, &format!("/v2/content/posts/{p}/?levels=2{query}")).await;
        assert_eq!(got.body["article"]["title"], title, "{query}");
    }
}

#[tokio::test]
async fn publishing_promotes_the_draft_with_or_without_changes() {
    let t = app().await;
    let a = published(&t, json!({"title": "v1", "city": "oslo"})).await;
    let path = item(&a);
    assert_eq!(
        write(
            &t,
            "PATCH",
            &path,
            json!({"status": "draft", "fields": {"title": "v2"}})
        )
        .await,
        2
    );
    // Both versions hold the same city: each view lists the item once.
    for q in [
        "fields.city=oslo",
        "order=city",
        "fields.city=oslo&preview=1",
    ] {
        assert_eq!(listed(&t, q).await, vec![a.clone()], "{q}");
    }
    // If-Match names the newest version: the draft's, not the one shown.
    let shown = read(&t, &path).await;
    assert_eq!(tag_version(&shown), 1);
    let body = json!({"status": "published"}).to_string();
    let stale = t
        .request_as(
            "PATCH",
            &path,
            Some(body.clone()),
            Some(&t.token),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    assert_eq!(stale.body["current_version"], 2);
    assert_eq!(
        read(&t, &previewed(&path)).await.body["title"],
        "v2",
        "nothing written"
    );

    // Published without changes: the draft as it is.
    let r = t
        .request_as(
            "PATCH",
            &path,
            Some(body),
            Some(&t.token),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "pending", "meta": {"id": a, "version": 3}})
    );
    for view in [path.clone(), previewed(&path)] {
        let r = read(&t, &view).await;
        assert_eq!(
            (&r.body["title"], &r.body["city"]),
            (&json!("v2"), &json!("oslo"))
        );
        let meta = r.body["meta"].as_object().unwrap();
        assert_eq!(meta["status"], "published", "{view}");
        assert_eq!(
            (&meta["version"], &meta["published_version"]),
            (&json!(3), &json!(3))
        );
        assert!(!meta.contains_key("draft_version"), "{view}: {meta:?}");
        assert_eq!(tag_version(&r), 3, "{view}");
    }
    assert_eq!(listed(&t, "fields.city=oslo").await, vec![a.clone()]);

    // A draft by PUT, then published with the write's own changes.
    let put = json!({"status": "draft", "fields": {"title": "v4", "city": "rome"}});
    assert_eq!(write(&t, "PUT", &path, put).await, 4);
    assert_eq!(listed(&t, "fields.city=rome").await, Vec::<String>::new());
    assert_eq!(listed(&t, "fields.city=oslo").await, vec![a.clone()]);
    let publish = json!({"status": "published", "fields": {"title": "v5"}});
    assert_eq!(write(&t, "PATCH", &path, publish).await, 5);
    let r = read(&t, &path).await;
    assert_eq!(
        (&r.body["title"], &r.body["city"]),
        (&json!("v5"), &json!("rome"))
    );
    assert_eq!(r.body["meta"]["version"], 5);
    assert_eq!(r.body["meta"]["published_version"], 5);
    assert!(
        r.body["meta"].get("draft_version").is_none(),
        "{:?}",
        r.body
    );
    for q in ["fields.city=rome", "fields.city=rome&preview=1"] {
        assert_eq!(listed(&t, q).await, vec![a.clone()], "{q}");
    }
    for q in ["fields.city=oslo", "fields.city=oslo&preview=1"] {
        assert_eq!(
            listed(&t, q).await,
            Vec::<String>::new(),
            "{q}: the old live entry"
        );
    }
    // And a PUT that publishes.
    let draft = json!({"status": "draft", "fields": {"title": "v6"}});
    assert_eq!(write(&t, "PATCH", &path, draft).await, 6);
    let put = json!({"status": "published", "fields": {"title": "v7", "city": "lima"}});
    assert_eq!(write(&t, "PUT", &path, put).await, 7);
    let r = read(&t, &path).await;
    assert_eq!(
        (&r.body["title"], &r.body["meta"]["status"]),
        (&json!("v7"), &json!("published"))
    );
    assert_eq!(listed(&t, "").await, vec![a.clone()]);
    assert_eq!(listed(&t, "preview=1").await, vec![a]);
}

#[tokio::test]
async fn unpublish_takes_the_item_off_the_live_site_and_keeps_the_newest_as_a_draft() {
    let t = app().await;
    let a = published(&t, json!({"title": "Live", "city": "oslo"})).await;
    let path = item(&a);
    let draft = json!({"status": "draft", "fields": {"title": "Draft", "city": "rome"}});
    assert_eq!(write(&t, "PATCH", &path, draft).await, 2);
    let unpublish = format!("{path}unpublish/");
    let post = |token: String, headers: Vec<(&'static str, &'static str)>, at: String| {
        let t = &t;
        async move {
            t.request_as("POST", &at, None, Some(&token), &headers)
                .await
        }
    };

    // Refusals, each writing nothing.
    let r = post(
        t.token.clone(),
        vec![("If-Match", "\"1\"")],
        unpublish.clone(),
    )
    .await;
    assert_eq!(r.status, 412, "the newest version is 2: {:?}", r.body);
    assert_eq!(r.body["current_version"], 2);
    let reader = t.mint(&t.org, &[Scope::Read]).await;
    let r = post(reader, vec![], unpublish.clone()).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let other = t.create_org(&[]).await;
    let outsider = t.mint(&other, &[Scope::Write, Scope::Read]).await;
    let r = post(outsider, vec![], unpublish.clone()).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let unknown = item(&folio::ids::ItemId::new().to_string());
    let r = post(t.token.clone(), vec![], format!("{unknown}unpublish/")).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let shown = read(&t, &path).await;
    assert_eq!(
        (&shown.body["title"], &shown.body["meta"]["draft_version"]),
        (&json!("Live"), &json!(2))
    );

    let r = post(
        t.token.clone(),
        vec![("If-Match", "\"2\"")],
        unpublish.clone(),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "pending", "meta": {"id": a, "version": 3}})
    );
    assert_eq!(t.request("GET", &path, None).await.status, 404);
    let r = t
        .request("GET", &format!("/v2/content/?keys=articles[_id={a}]"), None)
        .await;
    assert_eq!(r.body["data"]["articles"], json!([]), "{:?}", r.body);
    none_listed(&t, "").await;
    let newest = read(&t, &previewed(&path)).await;
    assert_eq!(
        (&newest.body["title"], &newest.body["city"]),
        (&json!("Draft"), &json!("rome"))
    );
    let meta = newest.body["meta"].as_object().unwrap();
    assert_eq!(
        (&meta["status"], &meta["version"], &meta["draft_version"]),
        (&json!("draft"), &json!(3), &json!(3))
    );
    assert!(!meta.contains_key("published_version"), "{meta:?}");
    assert_eq!(
        listed(&t, "fields.city=rome&preview=1").await,
        vec![a.clone()]
    );
    assert_eq!(
        listed(&t, "fields.city=oslo&preview=1").await,
        Vec::<String>::new()
    );

    // A draft is unpublished already: the same version.
    let r = post(t.token.clone(), vec![], unpublish.clone()).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["meta"]["version"], 3);
    assert_eq!(t.stored("articles", &a).await.unwrap().version, 3);

    // A published item without a draft: its content becomes the draft.
    let b = published(&t, json!({"title": "B", "city": "lima"})).await;
    let r = post(t.token.clone(), vec![], format!("{}unpublish/", item(&b))).await;
    assert_eq!((r.status, &r.body["meta"]["version"]), (202, &json!(2)));
    assert_eq!(t.request("GET", &item(&b), None).await.status, 404);
    let newest = read(&t, &previewed(&item(&b))).await;
    assert_eq!(
        (&newest.body["title"], &newest.body["meta"]["status"]),
        (&json!("B"), &json!("draft"))
    );
    assert_eq!(listed(&t, "fields.city=lima").await, Vec::<String>::new());
    assert_eq!(listed(&t, "fields.city=lima&preview=1").await, vec![b]);
}
