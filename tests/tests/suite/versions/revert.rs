//! Reverts: a new version with an earlier one's content (a draft unless
//! published), `If-Match` as a PATCH honours it, and the old content met
//! with today's schema (fields removed since are dropped and named, values
//! that no longer validate refused) and references (a `restrict` target
//! gone refuses, a `detach` one is dropped).

use folio_tests::{folio, team_members_schema, TestApp};
use serde_json::json;

use super::{edited, entries, item, read, stored_versions, version, versions, write};

#[tokio::test]
async fn a_revert_is_a_new_version_and_history_is_never_rewritten() {
    let t = TestApp::spawn().await;
    let (first, then) = (json!({"name": "Ada", "age": 36}), json!({"age": 37}));
    let id = edited(&t, "published", first, then).await;
    let path = item("team_members", &id);
    let before = stored_versions(&t, "team_members", &id).await;
    assert_eq!(before.len(), 2);

    let revert = |v: u64| format!("{}revert/", version("team_members", &id, v));
    let r = t.request("POST", &revert(1), None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "pending", "meta": {"id": id, "version": 3}, "dropped": []})
    );
    assert_eq!(r.header("etag"), Some("\"3\""));
    let after = stored_versions(&t, "team_members", &id).await;
    assert_eq!(after.len(), 3, "exactly one more");
    assert_eq!(&after[1..], &before[..], "earlier versions untouched");
    assert_eq!(
        (after[0].version, after[0].action, after[0].status),
        (
            3,
            folio::content::Action::Revert,
            folio::content::State::PublishedWithDraft
        )
    );
    assert_eq!(after[0].fields, before[1].fields, "version 1's content");
    // A draft over the live version: the live site still shows version 2.
    let live = read(&t, &path).await;
    assert_eq!(
        (
            live.body["age"].clone(),
            live.body["meta"]["version"].clone()
        ),
        (json!(37), json!(2))
    );
    let draft = read(&t, &format!("{path}?preview=1")).await;
    assert_eq!(
        (
            draft.body["age"].clone(),
            draft.body["meta"]["version"].clone()
        ),
        (json!(36), json!(3))
    );

    // Published when asked, and If-Match honoured as a PATCH honours it.
    let publish = |expected: &'static str| {
        let (t, path) = (&t, revert(2));
        async move {
            let body = json!({"status": "published"}).to_string();
            let headers = [("if-match", expected)];
            t.request_as("POST", &path, Some(body), Some(&t.token), &headers)
                .await
        }
    };
    let stale = publish("\"2\"").await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    assert_eq!(stale.body["current_version"], 3);
    assert_eq!(stored_versions(&t, "team_members", &id).await.len(), 3);
    let r = publish("\"3\"").await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["meta"]["version"], 4);
    let live = read(&t, &path).await;
    assert_eq!(
        (
            live.body["age"].clone(),
            live.body["meta"]["status"].clone()
        ),
        (json!(37), json!("published"))
    );
    let listed = read(&t, &versions("team_members", &id)).await;
    assert_eq!(
        entries(&listed.body)[0],
        (4, "revert".into(), "published".into())
    );

    let r = t
        .request("POST", &revert(2), Some(json!({"state": "draft"})))
        .await;
    assert_eq!(r.status, 400, "unknown keys: {:?}", r.body);
    assert_eq!(t.request("POST", &revert(9), None).await.status, 404);
    assert_eq!(stored_versions(&t, "team_members", &id).await.len(), 4);
}

#[tokio::test]
async fn a_revert_meets_todays_schema() {
    let t = TestApp::spawn().await;
    let first = json!({"name": "Ada", "bio": "hello", "age": 36});
    let id = edited(&t, "draft", first, json!({"age": 40})).await;
    let mut schema = team_members_schema();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["key"] != "bio");
    assert_eq!(
        t.put_collection("team_members", schema.clone())
            .await
            .status,
        200
    );

    let revert = format!("{}revert/", version("team_members", &id, 1));
    let r = t.request("POST", &revert, None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["dropped"], json!(["bio"]));
    let stored = t.stored("team_members", &id).await.unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(stored.fields["en.age"], 36);
    assert!(
        !stored.fields.keys().any(|k| k.ends_with(".bio")),
        "{:?}",
        stored.fields
    );

    // `age` now text: version 1's number no longer validates.
    for f in schema["fields"].as_array_mut().unwrap() {
        if f["key"] == "age" {
            *f = json!({"key": "age", "type": "text"});
        }
    }
    assert_eq!(t.put_collection("team_members", schema).await.status, 200);
    let r = t.request("POST", &revert, None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["errors"]["en.age"].is_array(), "{:?}", r.body);
    assert_eq!(t.stored("team_members", &id).await.unwrap().version, 3);
}

#[tokio::test]
async fn a_revert_meets_todays_references() {
    let t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [{"key": "name", "type": "text"}]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    let posts = json!({"name": "Posts", "fields": [
        {"key": "title", "type": "text", "required": true},
        {"key": "author", "type": "reference", "collection": "people"},
        {"key": "editors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("posts", posts).await.status, 201);
    let person = |name: &'static str| t.create("people", "published", json!({"name": name}));
    let (ada, bob, cy, dee) = (
        person("Ada").await,
        person("Bob").await,
        person("Cy").await,
        person("Dee").await,
    );
    let post = t
        .create(
            "posts",
            "published",
            json!({"title": "Hi", "author": ada, "editors": [bob, dee]}),
        )
        .await;
    let path = item("posts", &post);
    let away = json!({"fields": {"author": cy, "editors": [dee]}});
    write(&t, "PATCH", &path, Some(away)).await;
    let shared = &t;
    let delete = |id: String| async move {
        let r = shared.request("DELETE", &item("people", &id), None).await;
        assert_eq!(r.status, 204, "{:?}", r.body);
    };
    delete(bob.clone()).await;

    // A detach reference to an item gone since is left out, and named.
    let revert = format!("{}revert/", version("posts", &post, 1));
    let r = t.request("POST", &revert, None).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["dropped"], json!(["editors"]));
    let draft = read(&t, &format!("{path}?preview=1&levels=1")).await;
    assert_eq!(draft.body["meta"]["version"], 3);
    assert_eq!(
        draft.body["author"],
        json!(format!("/v2/content/?keys=people[_id={ada}]"))
    );
    assert_eq!(
        draft.body["editors"],
        json!([format!("/v2/content/?keys=people[_id={dee}]")])
    );
    assert_eq!(t.referrers("people", &ada).await.len(), 1, "linked again");

    // A restrict one refuses the revert, naming it; nothing is written.
    write(&t, "PATCH", &path, Some(json!({"fields": {"author": cy}}))).await;
    delete(ada.clone()).await;
    let r = t.request("POST", &revert, None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(
        r.detail().contains(&format!("people/{ada}")),
        "{}",
        r.detail()
    );
    assert_eq!(t.stored("posts", &post).await.unwrap().version, 4);
    // The version itself still reads as it was.
    let v1 = read(&t, &version("posts", &post, 1)).await;
    assert_eq!(
        v1.body["author"],
        json!(format!("/v2/content/?keys=people[_id={ada}]"))
    );
}
