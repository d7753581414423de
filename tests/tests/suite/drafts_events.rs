//! Published with draft, the item as a whole: references held by either
//! version (the restrict guard, the worker's detach cleanup), delete and
//! restore of both versions, the webhook of each transition, and racing
//! draft edits. The read paths: `drafts.rs`.

use std::time::Duration;

use folio_local::receiver::{always, Receiver};
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

use super::drafts::{app, item, none_listed, published, read, write};

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
    let a = published(&t, json!({"title": "Live", "city": "oslo"})).await;
    let draft = json!({"status": "draft", "fields": {"title": "Draft", "city": "rome"}});
    assert_eq!(write(&t, "PATCH", &item(&a), draft).await, 2);
    assert_eq!(t.request("DELETE", &item(&a), None).await.status, 204);

    for preview in ["", "&preview=1"] {
        let r = t
            .request("GET", &format!("{}?levels=1{preview}", item(&a)), None)
            .await;
        assert_eq!(r.status, 404, "{preview}: {:?}", r.body);
        none_listed(&t, preview).await;
        let r = read(&t, &format!("/v2/content/?keys=articles[_id={a}]{preview}")).await;
        assert_eq!(r.body["data"]["articles"], json!([]), "{preview}");
    }
    let trash = read(&t, "/v2/content/articles/deleted/").await;
    assert_eq!(trash.body["meta"]["count"], 1, "{:?}", trash.body);
    let r = t
        .request("POST", &format!("/v2/content/articles/{a}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let live = read(&t, &item(&a)).await;
    let newest = read(&t, &format!("{}?preview=1", item(&a))).await;
    assert_eq!(
        (&live.body["title"], &live.body["city"]),
        (&json!("Live"), &json!("oslo"))
    );
    assert_eq!(
        (&newest.body["title"], &newest.body["city"]),
        (&json!("Draft"), &json!("rome"))
    );
    for r in [&live, &newest] {
        assert_eq!(
            r.body["meta"]["status"], "published_with_draft",
            "{:?}",
            r.body
        );
        assert_eq!(r.body["meta"]["published_version"], 1, "{:?}", r.body);
    }
    assert_eq!(live.body["meta"]["version"], 1);
    let draft_version = newest.body["meta"]["draft_version"].as_u64().unwrap();
    assert_eq!(newest.body["meta"]["version"], draft_version);
    assert!(
        draft_version > 2,
        "delete and restore moved it: {draft_version}"
    );
    for (q, want) in [
        ("fields.city=oslo", 1),
        ("fields.city=rome", 0),
        ("fields.city=oslo&preview=1", 0),
        ("fields.city=rome&preview=1", 1),
        ("", 1),
        ("preview=1", 1),
        ("order=city", 1),
        ("order=city&preview=1", 1),
    ] {
        let r = read(&t, &format!("/v2/content/articles/?{q}")).await;
        assert_eq!(r.body["meta"]["count"], want, "{q}: {:?}", r.body);
        assert_eq!(
            r.body["data"]["articles"].as_array().unwrap().len(),
            want,
            "{q}"
        );
    }
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

#[tokio::test]
async fn eight_concurrent_draft_patches_of_a_published_item_all_survive_in_the_draft() {
    let t = TestApp::spawn_with(&[]).await;
    let fields: Vec<Value> = (0..8)
        .map(|i| json!({"key": format!("f{i}"), "type": "number"}))
        .collect();
    let schema = json!({"name": "Wide", "fields": fields});
    assert_eq!(t.put_collection("wide", schema).await.status, 201);
    let live: Value = (0..8)
        .map(|i| (format!("f{i}"), json!(0)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let id = t.create("wide", "published", live).await;
    let path = format!("/v2/content/wide/{id}/");
    let results = futures::future::join_all((0..8).map(|i| {
        let body = json!({"status": "draft", "fields": {format!("f{i}"): i + 1}});
        t.request("PATCH", &path, Some(body))
    }))
    .await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![202; 8],
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let mut versions: Vec<u64> = results
        .iter()
        .map(|r| r.body["meta"]["version"].as_u64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, (2..=9).collect::<Vec<_>>(), "a version each");
    let newest = read(&t, &format!("{path}?preview=1")).await;
    let public = read(&t, &path).await;
    for i in 0..8 {
        let f = format!("f{i}");
        assert_eq!(newest.body[&f], json!(i + 1), "{f} lost: {:?}", newest.body);
        assert_eq!(
            public.body[&f],
            json!(0),
            "{f} reached the live version: {:?}",
            public.body
        );
    }
    assert_eq!(newest.body["meta"]["status"], "published_with_draft");
    assert_eq!(
        (
            &newest.body["meta"]["version"],
            &public.body["meta"]["version"]
        ),
        (&json!(9), &json!(1))
    );
    assert_eq!(public.body["meta"]["draft_version"], 9);
}
