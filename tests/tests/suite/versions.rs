//! Versions (issue 25): every write keeps a numbered version of the item,
//! listed newest first (who did what, when), read in an item read's shape,
//! compared field by field, and reverted to as a new version, checked
//! against today's schema and references (`revert.rs`). Over the wire to
//! DynamoDB Local.

use folio::auth::{Operation, Scope, Token, TokenRecord};
use folio::ids::CollectionKey;
use folio_tests::{folio, TestApp, TestResponse};
use serde_json::{json, Value};

mod revert;

fn item(collection: &str, id: &str) -> String {
    format!("/v2/content/{collection}/{id}/")
}

fn versions(collection: &str, id: &str) -> String {
    format!("/v2/content/{collection}/{id}/versions/")
}

fn version(collection: &str, id: &str, v: u64) -> String {
    format!("{}{v}/", versions(collection, id))
}

/// A write that must be accepted; returns the version it answers.
async fn write(t: &TestApp, method: &str, path: &str, body: Option<Value>) -> u64 {
    let r = t.request(method, path, body.clone()).await;
    assert_eq!(r.status, 202, "{method} {path} {body:?}: {:?}", r.body);
    r.body["meta"]["version"].as_u64().expect("a version")
}

/// A team member created (`status`) with `en` values, then patched with
/// `then` (versions 1 and 2): its id.
async fn edited(t: &TestApp, status: &str, en: Value, then: Value) -> String {
    let id = t.create("team_members", status, json!({ "en": en })).await;
    let patch = json!({"fields": {"en": then}});
    let v = write(t, "PATCH", &item("team_members", &id), Some(patch)).await;
    assert_eq!(v, 2);
    id
}

/// A read that must answer 200.
async fn read(t: &TestApp, path: &str) -> TestResponse {
    let r = t.request("GET", path, None).await;
    assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    r
}

/// `(version, action, status)` of each entry of a versions page.
fn entries(body: &Value) -> Vec<(u64, String, String)> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            (v["version"].as_u64().unwrap(), s("action"), s("status"))
        })
        .collect()
}

/// Every version record of an item, as stored.
async fn stored_versions(t: &TestApp, collection: &str, id: &str) -> Vec<folio::content::Version> {
    let (key, id) = (
        CollectionKey::parse(collection).unwrap(),
        folio::ids::ItemId::parse(id).unwrap(),
    );
    let page = t.app.store.versions(&t.org, &key, &id, None, 1000).await;
    let mut out = Vec::new();
    for v in page.unwrap().versions {
        let full = t.app.store.version(&t.org, &key, &id, v.version).await;
        out.push(full.unwrap().expect("listed, so kept"));
    }
    out
}

#[tokio::test]
async fn versions_are_listed_newest_first_with_who_did_what_and_paged_by_cursor() {
    let t = TestApp::spawn().await;
    let editor = t
        .mint_record(TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
            collections: None,
            operations: None,
            revoked: false,
            name: Some("editor".into()),
            created_at: folio::clock::now(),
        })
        .await;
    let as_editor = |method: &'static str, path: String, body: Option<Value>| {
        let editor = editor.clone();
        let t = &t;
        async move {
            let r = t
                .request_as(
                    method,
                    &path,
                    body.map(|b| b.to_string()),
                    Some(&editor),
                    &[],
                )
                .await;
            assert!(r.status < 300, "{method} {path}: {:?}", r.body);
        }
    };
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let path = item("team_members", &id);
    as_editor(
        "PATCH",
        path.clone(),
        Some(json!({"fields": {"en": {"age": 36}}})),
    )
    .await;
    as_editor(
        "PATCH",
        path.clone(),
        Some(json!({"status": "draft", "fields": {"en": {"age": 37}}})),
    )
    .await;
    as_editor("PATCH", path.clone(), Some(json!({"status": "published"}))).await;
    as_editor("POST", format!("{path}unpublish/"), None).await;
    as_editor("DELETE", path.clone(), None).await;
    as_editor("POST", format!("{path}restore/"), None).await;

    let r = read(&t, &versions("team_members", &id)).await;
    let e = |v: u64, a: &str, s: &str| (v, a.to_owned(), s.to_owned());
    assert_eq!(
        entries(&r.body),
        vec![
            e(7, "restore", "draft"),
            e(6, "delete", "draft"),
            e(5, "unpublish", "draft"),
            e(4, "publish", "published"),
            e(3, "update", "published_with_draft"),
            e(2, "update", "published"),
            e(1, "create", "published"),
        ]
    );
    assert_eq!(r.body["meta"]["next_cursor"], Value::Null);
    let hash = Token::parse(&editor).unwrap().hash();
    let by = &r.body["data"][0]["by"];
    assert_eq!(by["label"], "editor");
    assert_eq!(by["token"].as_str(), Some(&hash[..8]));
    assert!(by["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    // The create was made with the test's own (unnamed) token.
    let first = &r.body["data"][6]["by"];
    assert_eq!(first["label"], Value::Null);
    assert_eq!(
        first["token"].as_str(),
        Some(&Token::parse(&t.token).unwrap().hash()[..8])
    );
    let text = r.body.to_string();
    for secret in [&editor, &t.token, &hash] {
        assert!(!text.contains(secret.as_str()), "a token in {text}");
    }
    assert!(
        r.body["data"][0].get("fields").is_none(),
        "no content listed"
    );

    // Two at a time: every version once, newest first.
    let base = format!("{}?page_size=2", versions("team_members", &id));
    let mut r = read(&t, &base).await;
    let mut walked = Vec::new();
    let mut pages = 1;
    loop {
        let page = entries(&r.body);
        assert!(page.len() <= 2);
        walked.extend(page.into_iter().map(|(v, _, _)| v));
        let Some(cursor) = r.body["meta"]["next_cursor"].as_str() else {
            break;
        };
        r = read(&t, &format!("{base}&cursor={cursor}")).await;
        pages += 1;
    }
    assert_eq!(walked, vec![7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(pages, 4);

    for bad in ["0", "101", "x", "-1"] {
        let path = format!("{}?page_size={bad}", versions("team_members", &id));
        let r = t.request("GET", &path, None).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert!(r.body["errors"]["page_size"].is_array(), "{:?}", r.body);
    }
    use base64::Engine;
    let forge = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for bad in [
        "garbled!".to_owned(),
        forge("v1:x"),
        forge("v1:0"),
        forge("1:c:7"),
    ] {
        let path = format!("{}?cursor={bad}", versions("team_members", &id));
        let r = t.request("GET", &path, None).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert!(r.body["errors"]["cursor"].is_array(), "{:?}", r.body);
    }
}

#[tokio::test]
async fn a_version_reads_as_it_was_in_an_item_reads_shape() {
    let t = TestApp::spawn().await;
    let projects = json!({"name": "Projects", "fields": [
        {"key": "title", "type": "text", "required": true},
        {"key": "lead", "type": "reference", "collection": "team_members"}
    ]});
    assert_eq!(t.put_collection("projects", projects).await.status, 201);
    let ada = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let id = t
        .create(
            "projects",
            "published",
            json!({"en": {"title": "One", "lead": ada}, "es": {"title": "Uno"}}),
        )
        .await;
    let patch = json!({"fields": {"en": {"title": "Two", "lead": null}}});
    assert_eq!(
        write(&t, "PATCH", &item("projects", &id), Some(patch)).await,
        2
    );

    let r = read(&t, &version("projects", &id, 1)).await;
    assert_eq!(r.body["meta"]["version"], 1);
    assert_eq!(r.body["meta"]["id"], json!(id));
    assert_eq!(r.body["meta"]["status"], "published");
    assert_eq!(r.body["title"], "One");
    assert_eq!(
        r.body["lead"],
        json!(format!("/v2/content/?keys=team_members[_id={ada}]")),
        "a link, never expanded"
    );
    let es = read(&t, &format!("{}?locale=es", version("projects", &id, 1))).await;
    assert_eq!(es.body["title"], "Uno");
    let now = read(&t, &version("projects", &id, 2)).await;
    assert_eq!(now.body["meta"]["version"], 2);
    assert_eq!(
        (&now.body["title"], &now.body["lead"]),
        (&json!("Two"), &Value::Null)
    );
    let es = read(&t, &format!("{}?locale=es", version("projects", &id, 2))).await;
    assert_eq!(es.body["title"], "Uno");
    // The version read agrees with the item's own read of that version.
    let current = read(&t, &item("projects", &id)).await;
    assert_eq!(current.body["title"], now.body["title"]);
    assert_eq!(
        current.body["meta"]["created_at"],
        now.body["meta"]["created_at"]
    );
    assert_eq!(
        current.body["meta"]["updated_at"],
        now.body["meta"]["updated_at"]
    );

    let r = t
        .request(
            "GET",
            &format!("{}?locale=fr", version("projects", &id, 1)),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["locale"].is_array());
    for missing in ["3", "0", "01", "+1", "abc", "99999999999999999999999"] {
        let path = format!("{}{missing}/", versions("projects", &id));
        let r = t.request("GET", &path, None).await;
        assert_eq!(r.status, 404, "{missing}: {:?}", r.body);
    }
}

#[tokio::test]
async fn two_versions_compare_field_by_field() {
    let t = TestApp::spawn().await;
    let id = t
        .create(
            "team_members",
            "draft",
            json!({"en": {"name": "Ada", "age": 36, "role": "engineer"}}),
        )
        .await;
    let put = json!({"fields": {"en": {"name": "Ada", "age": 37, "bio": "x"}}});
    write(&t, "PUT", &item("team_members", &id), Some(put)).await;
    let compare = |a: u64, b: u64| format!("{}compare/{b}/", version("team_members", &id, a));
    let r = read(&t, &compare(1, 2)).await;
    assert_eq!(
        r.body,
        json!({"data": [
            {"field": "en.age", "from": 36, "to": 37},
            {"field": "en.bio", "from": null, "to": "x"},
            {"field": "en.role", "from": "engineer", "to": null},
        ]})
    );
    let back = read(&t, &compare(2, 1)).await;
    let swapped: Vec<Value> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!({"field": d["field"], "from": d["to"], "to": d["from"]}))
        .collect();
    assert_eq!(back.body["data"], json!(swapped));
    assert_eq!(read(&t, &compare(2, 2)).await.body, json!({"data": []}));
    for (a, b) in [(1, 3), (3, 1)] {
        assert_eq!(t.request("GET", &compare(a, b), None).await.status, 404);
    }
}

#[tokio::test]
async fn versions_follow_tenancy_scopes_and_the_items_life() {
    let t = TestApp::spawn().await;
    let posts = json!({"name": "Posts", "fields": [{"key": "title", "type": "text"}]});
    assert_eq!(t.put_collection("posts", posts).await.status, 201);
    let id = edited(&t, "published", json!({"name": "Ada"}), json!({"age": 3})).await;
    let path = item("team_members", &id);
    let all = [
        ("GET", versions("team_members", &id)),
        ("GET", version("team_members", &id, 1)),
        (
            "GET",
            format!("{}compare/2/", version("team_members", &id, 1)),
        ),
        (
            "POST",
            format!("{}revert/", version("team_members", &id, 1)),
        ),
    ];
    let status = |token: String| {
        let t = &t;
        let all = all.clone();
        async move {
            let mut out = Vec::new();
            for (method, p) in &all {
                out.push(
                    t.request_as(method, p, None, Some(&token), &[])
                        .await
                        .status,
                );
            }
            out
        }
    };
    let other_org = t.create_org(&["en"]).await;
    let other = t.mint(&other_org, &[Scope::Admin]).await;
    assert_eq!(status(other).await, vec![404; 4], "never 403");
    let reader = t.mint(&t.org, &[Scope::Read]).await;
    assert_eq!(status(reader).await, vec![200, 200, 200, 403]);
    let writer = t.mint(&t.org, &[Scope::Write]).await;
    // Writing needs no `read`: the revert is the one it may make.
    assert_eq!(status(writer).await, vec![403, 403, 403, 202]);
    assert_eq!(t.stored("team_members", &id).await.unwrap().version, 3);
    // Limited to other collections: refused as the item's own read is.
    let elsewhere = t
        .mint_record(TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read, Scope::Write],
            collections: Some(vec![CollectionKey::parse("posts").unwrap()]),
            operations: None,
            revoked: false,
            name: None,
            created_at: folio::clock::now(),
        })
        .await;
    let own = t
        .request_as("GET", &path, None, Some(&elsewhere), &[])
        .await;
    assert_eq!(own.status, 403);
    assert_eq!(status(elsewhere).await, vec![403; 4]);
    // Reading without `update`: the revert is refused.
    let no_update = t
        .mint_record(TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read, Scope::Write],
            collections: None,
            operations: Some(vec![Operation::Read, Operation::Create]),
            revoked: false,
            name: None,
            created_at: folio::clock::now(),
        })
        .await;
    assert_eq!(status(no_update).await, vec![200, 200, 200, 403]);
    assert_eq!(t.stored("team_members", &id).await.unwrap().version, 3);

    // A deleted item's versions wait in the trash with it; unknown: 404.
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
    assert_eq!(status(t.token.clone()).await, vec![404; 4]);
    assert_eq!(
        t.request("POST", &format!("{path}restore/"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        entries(&read(&t, &versions("team_members", &id)).await.body).len(),
        5
    );
    let unknown = folio::ids::ItemId::new().to_string();
    let r = t
        .request("GET", &versions("team_members", &unknown), None)
        .await;
    assert_eq!(r.status, 404);
}
