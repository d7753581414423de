//! Published with draft, the item as a whole: references held by either
//! version (the restrict guard, the worker's detach cleanup), delete and
//! restore of both versions, the webhook of each transition, and racing
//! draft edits. The read paths: `drafts.rs`.

use std::time::Duration;

use folio_local::receiver::{always, Receiver};
use folio_tests::{folio, listed_ids, TestApp};
use serde_json::{json, Value};

use super::drafts::{
    app, articles_schema, item, listed, none_listed, paged, published, read, write,
};

fn person(id: &str) -> String {
    format!("/v2/content/people/{id}/")
}

/// The mentors a stored version holds (none when the field is gone).
fn mentors(fields: &std::collections::BTreeMap<String, Value>) -> Value {
    fields.get("mentors").cloned().unwrap_or_else(|| json!([]))
}

#[tokio::test]
async fn detach_cleanup_removes_a_reference_held_by_either_version() {
    let t = super::references::app().await;
    let m = t.create("people", "published", json!({"name": "M"})).await;
    let o = t.create("people", "published", json!({"name": "O"})).await;
    // Only the draft holds M.
    let draft_only = t.create("people", "published", json!({"name": "D"})).await;
    let add = json!({"status": "draft", "fields": {"mentors": [m, o]}});
    assert_eq!(write(&t, "PATCH", &person(&draft_only), add).await, 2);
    // Only the live version holds M.
    let live_only = t
        .create("people", "published", json!({"name": "L", "mentors": [m]}))
        .await;
    let drop = json!({"status": "draft", "fields": {"name": "L2", "mentors": [o]}});
    assert_eq!(write(&t, "PATCH", &person(&live_only), drop).await, 2);
    t.run_pipeline(Duration::from_secs(60)).await;
    let mut holders: Vec<String> = t
        .referrers("people", &m)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    holders.sort();
    let mut want = vec![draft_only.clone(), live_only.clone()];
    want.sort();
    assert_eq!(holders, want, "an edge for each version's reference");

    let r = t.request("DELETE", &person(&m), None).await;
    assert_eq!(
        r.status, 204,
        "detach references do not guard: {:?}",
        r.body
    );
    t.run_pipeline(Duration::from_secs(120)).await;
    assert!(t.referrers("people", &m).await.is_empty(), "no edge left");
    assert_eq!(t.referrers("people", &o).await.len(), 2, "O stays held");

    let d = t.stored("people", &draft_only).await.unwrap();
    assert_eq!(mentors(&d.fields), json!([o]), "the draft let go: {d:?}");
    assert_eq!(d.status, folio::content::State::PublishedWithDraft, "{d:?}");
    let live = d.live.as_ref().expect("the live version stays");
    assert_eq!((mentors(&live.fields), live.version), (json!([]), 1));
    assert!(d.all_out_refs().iter().all(|r| !r.contains(&m)), "{d:?}");
    let shown = read(&t, &format!("{}?preview=1", person(&draft_only))).await;
    assert_eq!(shown.body["meta"]["draft_version"], 3, "one new version");
    assert_eq!(
        read(&t, &person(&draft_only)).await.body["meta"]["version"],
        1
    );

    let l = t.stored("people", &live_only).await.unwrap();
    let live = l.live.as_ref().expect("the live version stays");
    assert_eq!(
        mentors(&live.fields),
        json!([]),
        "the live version let go: {l:?}"
    );
    assert_eq!(live.fields["name"], "L");
    assert_eq!(
        (mentors(&l.fields), &l.fields["name"]),
        (json!([o]), &json!("L2"))
    );
    assert!(l.all_out_refs().iter().all(|r| !r.contains(&m)), "{l:?}");
    assert_eq!(read(&t, &person(&live_only)).await.body["name"], "L");
}

#[tokio::test]
async fn a_restrict_reference_held_by_either_version_guards_its_target() {
    let t = super::references::app().await;
    let boss = t
        .create("people", "published", json!({"name": "Boss"}))
        .await;
    let ada = t
        .create("people", "published", json!({"name": "Ada"}))
        .await;
    let hold = json!({"status": "draft", "fields": {"manager": boss}});
    assert_eq!(write(&t, "PATCH", &person(&ada), hold).await, 2);
    assert!(
        read(&t, &person(&ada)).await.body["manager"].is_null(),
        "the live version holds no manager"
    );
    let r = t.request("DELETE", &person(&boss), None).await;
    assert_eq!(r.status, 400, "the draft's reference guards: {:?}", r.body);
    assert_eq!(
        r.detail(),
        "This content object is used in another content object."
    );
    assert_eq!(
        r.body["referenced_by"],
        json!([{"collection": "people", "id": ada, "field": "manager"}])
    );

    // Published, then a draft without it: the live version still holds it.
    assert_eq!(
        write(&t, "PATCH", &person(&ada), json!({"status": "published"})).await,
        3
    );
    let off = json!({"status": "draft", "fields": {"manager": ""}});
    assert_eq!(write(&t, "PATCH", &person(&ada), off).await, 4);
    let r = t.request("DELETE", &person(&boss), None).await;
    assert_eq!(
        r.status, 400,
        "the live version's reference guards: {:?}",
        r.body
    );

    // Published without it: neither version holds it, the delete goes.
    assert_eq!(
        write(&t, "PATCH", &person(&ada), json!({"status": "published"})).await,
        5
    );
    assert_eq!(t.stored("people", &boss).await.unwrap().restrict_count, 0);
    assert_eq!(t.request("DELETE", &person(&boss), None).await.status, 204);
}

#[tokio::test]
async fn delete_and_restore_take_both_versions() {
    let t = app().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = published(&t, json!({"title": "Live", "city": "oslo"})).await;
        let draft = json!({"status": "draft", "fields": {"title": "Draft", "city": "rome"}});
        assert_eq!(write(&t, "PATCH", &item(&id), draft).await, 2);
        ids.push(id);
    }
    // One by its own delete, one by a batch delete.
    assert_eq!(t.request("DELETE", &item(&ids[0]), None).await.status, 204);
    let batch = Some(json!([ids[1]]));
    let r = t
        .request("POST", "/v2/content/articles/batch-delete/", batch)
        .await;
    assert_eq!((r.status, &r.body), (200, &json!({"deletedCount": 1})));

    for preview in ["", "&preview=1"] {
        for id in &ids {
            let r = t
                .request("GET", &format!("{}?levels=1{preview}", item(id)), None)
                .await;
            assert_eq!(r.status, 404, "{preview}: {:?}", r.body);
            let r = read(
                &t,
                &format!("/v2/content/?keys=articles[_id={id}]{preview}"),
            )
            .await;
            assert_eq!(r.body["data"]["articles"], json!([]), "{preview}");
        }
        none_listed(&t, preview).await;
    }
    let trash = read(&t, "/v2/content/articles/deleted/").await;
    assert_eq!(trash.body["meta"]["count"], 2, "{:?}", trash.body);

    for id in &ids {
        let restore = format!("/v2/content/articles/{id}/restore/");
        let r = t.request("POST", &restore, None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let live = read(&t, &item(id)).await.body;
        let newest = read(&t, &format!("{}?preview=1", item(id))).await.body;
        let shown = |b: &Value| (b["title"].clone(), b["city"].clone());
        assert_eq!(shown(&live), (json!("Live"), json!("oslo")));
        assert_eq!(shown(&newest), (json!("Draft"), json!("rome")));
        for b in [&live, &newest] {
            assert_eq!(b["meta"]["status"], "published_with_draft", "{b:?}");
            assert_eq!(b["meta"]["published_version"], 1, "{b:?}");
        }
        assert_eq!(live["meta"]["version"], 1);
        let draft_version = newest["meta"]["draft_version"].as_u64().unwrap();
        assert_eq!(newest["meta"]["version"], draft_version);
        assert!(
            draft_version > 2,
            "delete and restore moved it: {draft_version}"
        );
    }
    for (q, listed_here) in [
        ("fields.city=oslo", true),
        ("fields.city=rome", false),
        ("fields.city=oslo&preview=1", false),
        ("fields.city=rome&preview=1", true),
        ("", true),
        ("preview=1", true),
        ("order=city", true),
        ("order=city&preview=1", true),
    ] {
        let want = if listed_here { ids.clone() } else { vec![] };
        assert_eq!(listed(&t, q).await, want, "{q}");
    }
}

/// A field indexed on a collection whose items have drafts: the build
/// writes the entries of both versions, so the index serves each view
/// its version.
#[tokio::test]
async fn an_index_built_over_items_with_drafts_serves_each_view_its_version() {
    let t = app().await;
    let r = t.put_collection("articles", articles_schema(false)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = published(&t, json!({"title": "A", "city": "oslo"})).await;
    let draft = json!({"status": "draft", "fields": {"city": "rome"}});
    assert_eq!(write(&t, "PATCH", &item(&a), draft).await, 2);
    let b = published(&t, json!({"title": "B", "city": "lima"})).await;
    let r = t.put_collection("articles", articles_schema(true)).await;
    assert_eq!(r.body["building"], json!(["city"]), "{:?}", r.body);
    let key = folio::ids::CollectionKey::parse("articles").unwrap();
    let built = t
        .app
        .store
        .reindex(&t.org, &key, false, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(built.items, 2);
    t.app.forget_collection(&t.org, &key);
    let r = read(&t, "/v2/collections/articles/").await;
    assert_eq!(r.body["building"], json!([]));

    let (a_, b_) = (vec![a.clone()], vec![b.clone()]);
    for (q, public, preview) in [
        ("fields.city=oslo", &a_, &vec![]),
        ("fields.city=rome", &vec![], &a_),
        ("fields.city=lima", &b_, &b_),
    ] {
        assert_eq!(&listed(&t, q).await, public, "{q}");
        assert_eq!(&listed(&t, &format!("{q}&preview=1")).await, preview, "{q}");
    }
    let by_index = |ids: [&String; 2]| (ids.map(String::clone).to_vec(), true);
    assert_eq!(paged(&t, "order=city").await, by_index([&b, &a]));
    assert_eq!(paged(&t, "order=-city&preview=1").await, by_index([&a, &b]));
}

/// Each transition's webhook, in order of version: a draft saved over a
/// live item is a draft (never an unpublish), publishing is a publish, and
/// only an explicit unpublish is an unpublish; an unpublish that changes
/// nothing sends nothing.
#[tokio::test]
async fn each_transition_sends_its_webhook() {
    let t = app().await;
    let receiver = Receiver::start(always(200)).await.unwrap();
    let r = t
        .request(
            "PUT",
            "/v2/webhooks/site/",
            Some(json!({"url": &receiver.url, "events": ["collectionitem.*"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    receiver.verify_with(r.body["secret"].as_str().unwrap());

    let a = published(&t, json!({"title": "v1"})).await;
    let path = item(&a);
    let steps = [
        json!({"status": "draft", "fields": {"title": "v2"}}),
        json!({"fields": {"title": "v3"}}),
        json!({"status": "published"}),
        json!({"status": "draft", "fields": {"title": "v5"}}),
    ];
    for (i, body) in steps.into_iter().enumerate() {
        assert_eq!(write(&t, "PATCH", &path, body).await, i as u64 + 2);
    }
    let unpublish = format!("{path}unpublish/");
    // The second changes nothing: the same version, no event.
    for _ in 0..2 {
        let r = t.request("POST", &unpublish, None).await;
        let got = (r.status, &r.body["meta"]["version"]);
        assert_eq!(got, (202, &json!(6)), "{:?}", r.body);
    }

    t.deliver_until(Duration::from_secs(60), || receiver.count() >= 6)
        .await;
    t.run_pipeline(Duration::from_secs(60)).await;
    let mut got: Vec<(u64, String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(r.verified, Some(true), "{:?}", r.headers);
            assert_eq!(
                body["data"]["itemid"],
                format!("/v2/content/?keys=articles[_id={a}]")
            );
            (
                body["data"]["version"].as_u64().unwrap(),
                body["webhook"]["event"].as_str().unwrap().to_owned(),
                body["data"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(u64, String, String)> = [
        (1, "published", "published"),
        (2, "draft", "draft"),
        (3, "draft", "draft"),
        (4, "published", "published"),
        (5, "draft", "draft"),
        (6, "unpublished", "draft"),
    ]
    .into_iter()
    .map(|(v, e, s)| (v, format!("collectionitem.{e}"), s.to_owned()))
    .collect();
    assert_eq!(got, want);
}

/// `wide` (`f0`…`f7`, numbers, `f0` indexed) and a published item of it
/// with every field 0; the item's path.
async fn wide(t: &TestApp) -> String {
    let fields: Vec<Value> = (0..8)
        .map(|i| json!({"key": format!("f{i}"), "type": "number", "indexed": i == 0}))
        .collect();
    let schema = json!({"name": "Wide", "fields": fields});
    assert_eq!(t.put_collection("wide", schema).await.status, 201);
    let live: Value = (0..8)
        .map(|i| (format!("f{i}"), json!(0)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let id = t.create("wide", "published", live).await;
    format!("/v2/content/wide/{id}/")
}

/// A draft PATCH setting `f<i>` to `i + 1`.
fn set(i: usize) -> Option<Value> {
    Some(json!({"status": "draft", "fields": {format!("f{i}"): i + 1}}))
}

/// Checks that a view's listing, count and index filter on `f0` agree
/// with its read of the item (`shown`, None: the view does not show it).
async fn agrees(t: &TestApp, view: &str, shown: Option<&Value>) {
    let count = usize::from(shown.is_some());
    let r = read(t, &format!("/v2/content/wide/?{view}")).await;
    assert_eq!(r.body["meta"]["count"], count, "{view}: {:?}", r.body);
    assert_eq!(listed_ids(&r.body, "wide").len(), count, "{view}");
    let Some(shown) = shown else { return };
    let f0 = shown["f0"].as_u64().unwrap();
    for (value, want) in [(f0, 1), (1 - f0.min(1), 0)] {
        let q = format!("/v2/content/wide/?fields.f0={value}&{view}");
        let r = read(t, &q).await;
        assert_eq!(r.body["meta"]["count"], want, "{q}: {:?}", r.body);
        assert_eq!(listed_ids(&r.body, "wide").len(), want, "{q}");
    }
}

#[tokio::test]
async fn eight_concurrent_draft_patches_of_a_published_item_all_survive_in_the_draft() {
    let t = TestApp::spawn_with(&[]).await;
    let path = wide(&t).await;
    let results =
        futures::future::join_all((0..8).map(|i| t.request("PATCH", &path, set(i)))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    let bodies: Vec<&Value> = results.iter().map(|r| &r.body).collect();
    assert_eq!(statuses, vec![202; 8], "{bodies:?}");
    let mut versions: Vec<u64> = bodies
        .iter()
        .map(|b| b["meta"]["version"].as_u64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, (2..=9).collect::<Vec<_>>(), "a version each");
    let newest = read(&t, &format!("{path}?preview=1")).await.body;
    let public = read(&t, &path).await.body;
    for i in 0..8 {
        let f = format!("f{i}");
        assert_eq!(newest[&f], json!(i + 1), "{f} lost: {newest:?}");
        assert_eq!(
            public[&f],
            json!(0),
            "{f} reached the live version: {public:?}"
        );
    }
    assert_eq!(newest["meta"]["status"], "published_with_draft");
    let versions = |b: &Value| {
        (
            b["meta"]["version"].clone(),
            b["meta"]["draft_version"].clone(),
        )
    };
    assert_eq!(versions(&newest), (json!(9), json!(9)));
    assert_eq!(versions(&public), (json!(1), json!(9)));
    agrees(&t, "", Some(&public)).await;
    agrees(&t, "preview=1", Some(&newest)).await;
}

/// Draft edits racing a publish and an unpublish: whatever order they
/// land in, every edit survives in the newest content, and each view's
/// listing, count and index filter agree with what its read shows.
#[tokio::test]
async fn draft_edits_racing_a_publish_and_an_unpublish_leave_each_view_consistent() {
    let t = TestApp::spawn_with(&[]).await;
    let path = wide(&t).await;
    let unpublish = format!("{path}unpublish/");
    let mut writes: Vec<_> = (0..8).map(|i| t.request("PATCH", &path, set(i))).collect();
    writes.push(t.request("PATCH", &path, Some(json!({"status": "published"}))));
    writes.push(t.request("POST", &unpublish, None));
    let results = futures::future::join_all(writes).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![202; 10], "{results:?}");

    let newest = read(&t, &format!("{path}?preview=1")).await.body;
    for i in 0..8 {
        assert_eq!(
            newest[format!("f{i}")],
            json!(i + 1),
            "f{i} lost: {newest:?}"
        );
    }
    let public = t.request("GET", &path, None).await;
    let state = newest["meta"]["status"].as_str().unwrap();
    match public.status {
        404 => assert_eq!(state, "draft", "{newest:?}"),
        200 => assert_eq!(public.body["meta"]["status"], state, "{:?}", public.body),
        other => panic!("{other}: {:?}", public.body),
    }
    let shown = (public.status == 200).then_some(&public.body);
    agrees(&t, "", shown).await;
    agrees(&t, "preview=1", Some(&newest)).await;
}
