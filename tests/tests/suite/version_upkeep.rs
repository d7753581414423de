//! Versions kept by every write, including the worker's own, and their
//! upkeep off the request path: trimming past `FOLIO_VERSIONS_KEEP` never
//! removes the published version or the draft, and a purge removes them
//! all (docs/design.md §2b).

use std::time::Duration;

use folio::content::{Action, State};
use folio::ids::{CollectionKey, ItemId};
use folio_local::receiver::{always, Receiver};
use folio_tests::{folio, TestApp};
use serde_json::json;

/// `people`, whose `mentor` references people and is detached when the
/// mentor is deleted; an unlocalized org; the worker keeps 3 versions.
async fn app() -> TestApp {
    let mut t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "mentor", "type": "reference", "collection": "people", "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    t.worker = t.worker.clone().with_versions_keep(3);
    t
}

/// The item's versions as stored, newest first: (version, action, state).
async fn versions(t: &TestApp, id: &str) -> Vec<(u64, Action, State)> {
    let page = t
        .app
        .store
        .versions(
            &t.org,
            &CollectionKey::parse("people").unwrap(),
            &ItemId::parse(id).unwrap(),
            None,
            100,
        )
        .await
        .unwrap();
    assert!(!page.more);
    page.versions
        .into_iter()
        .map(|v| (v.version, v.action, v.status))
        .collect()
}

async fn patch(t: &TestApp, id: &str, body: serde_json::Value) {
    let r = t
        .request("PATCH", &format!("/v2/content/people/{id}/"), Some(body))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
}

#[tokio::test]
async fn trimming_keeps_the_newest_the_published_version_and_the_draft() {
    let t = app().await;
    let id = t.create("people", "published", json!({"name": "v1"})).await;
    for n in 2..=8 {
        patch(
            &t,
            &id,
            json!({"status": "draft", "fields": {"name": format!("v{n}")}}),
        )
        .await;
    }
    // Before the worker: every write's version is there.
    let all: Vec<u64> = versions(&t, &id).await.iter().map(|v| v.0).collect();
    assert_eq!(all, (1..=8).rev().collect::<Vec<_>>());
    t.run_pipeline(Duration::from_secs(60)).await;
    // The newest 3 and the live version 1; 2–5 went.
    let kept = versions(&t, &id).await;
    assert_eq!(
        kept.iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![8, 7, 6, 1],
        "{kept:?}"
    );
    assert_eq!(kept[3], (1, Action::Create, State::Published));
    assert_eq!(kept[0].2, State::PublishedWithDraft);
    // The live version is still what reads show.
    let live = t
        .request("GET", &format!("/v2/content/people/{id}/"), None)
        .await;
    assert_eq!(live.body["name"], "v1");

    // Published: version 1 is no longer protected, and goes.
    patch(&t, &id, json!({"status": "published"})).await;
    t.run_pipeline(Duration::from_secs(60)).await;
    let kept = versions(&t, &id).await;
    assert_eq!(
        kept.iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![9, 8, 7],
        "{kept:?}"
    );
    assert_eq!(kept[0], (9, Action::Publish, State::Published));
}

#[tokio::test]
async fn a_purge_removes_every_version_and_a_delete_keeps_them() {
    let t = app().await;
    let id = t.create("people", "draft", json!({"name": "a"})).await;
    patch(&t, &id, json!({"fields": {"name": "b"}})).await;
    let path = format!("/v2/content/people/{id}/");
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
    t.run_pipeline(Duration::from_secs(60)).await;
    let kept = versions(&t, &id).await;
    assert_eq!(
        kept,
        vec![
            (3, Action::Delete, State::Draft),
            (2, Action::Update, State::Draft),
            (1, Action::Create, State::Draft)
        ]
    );
    // Another item's versions are not touched by this purge.
    let other = t.create("people", "draft", json!({"name": "o"})).await;
    t.purge("people", &id).await;
    t.run_pipeline(Duration::from_secs(60)).await;
    assert!(versions(&t, &id).await.is_empty());
    assert_eq!(versions(&t, &other).await.len(), 1);
}

#[tokio::test]
async fn the_workers_writes_keep_versions_named_for_the_worker() {
    let t = app().await;
    let mentor = t.create("people", "published", json!({"name": "M"})).await;
    let id = t
        .create(
            "people",
            "published",
            json!({"name": "P", "mentor": mentor}),
        )
        .await;
    let path = format!("/v2/content/people/{mentor}/");
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
    t.run_pipeline(Duration::from_secs(60)).await;
    let page = t
        .app
        .store
        .versions(
            &t.org,
            &CollectionKey::parse("people").unwrap(),
            &ItemId::parse(&id).unwrap(),
            None,
            10,
        )
        .await
        .unwrap();
    let newest = &page.versions[0];
    assert_eq!((newest.version, newest.action), (2, Action::Detach));
    assert_eq!(newest.by.label.as_deref(), Some("worker"));
    assert!(newest.by.token.is_none());
    let created = &page.versions[1];
    assert_eq!(created.action, Action::Create);
    // A request's version names its token by a hash prefix, never the token.
    let hash = folio::auth::Token::parse(&t.token).unwrap().hash();
    assert_eq!(created.by.token.as_deref(), Some(&hash[..8]));
    assert!(!t.token.contains(&hash[..8]));
    // The version read back holds the content as that write left it.
    let v1 = t
        .app
        .store
        .version(
            &t.org,
            &CollectionKey::parse("people").unwrap(),
            &ItemId::parse(&id).unwrap(),
            1,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.fields["mentor"], json!(mentor));
    assert!(!v1.out_refs.is_empty());
}

#[tokio::test]
async fn a_cleanup_changing_both_versions_is_a_draft_and_a_published_event() {
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
    let mentor = t.create("people", "published", json!({"name": "M"})).await;
    let id = t
        .create(
            "people",
            "published",
            json!({"name": "P", "mentor": mentor}),
        )
        .await;
    // A draft over the live version, both holding the mentor.
    patch(
        &t,
        &id,
        json!({"status": "draft", "fields": {"name": "P2"}}),
    )
    .await;
    let path = format!("/v2/content/people/{mentor}/");
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
    let link = format!("/v2/content/?keys=people[_id={id}]");
    let of_cleanup = || {
        receiver
            .received()
            .iter()
            .map(|r| r.json())
            .filter(|b| b["data"]["itemid"] == link && b["data"]["version"] == 3)
            .map(|b| {
                let event = b["webhook"]["event"].as_str().unwrap().to_owned();
                (event, b["data"]["state"].as_str().unwrap_or("?").to_owned())
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    t.deliver_until(Duration::from_secs(60), || of_cleanup().len() >= 2)
        .await;
    let with_draft = "published_with_draft".to_owned();
    assert_eq!(
        of_cleanup().into_iter().collect::<Vec<_>>(),
        vec![
            ("collectionitem.draft".to_owned(), with_draft.clone()),
            ("collectionitem.published".to_owned(), with_draft),
        ]
    );
    // Both versions lost the reference.
    let stored = t.stored("people", &id).await.unwrap();
    assert!(!stored.fields.contains_key("mentor"));
    assert!(!stored.live.unwrap().fields.contains_key("mentor"));
}
