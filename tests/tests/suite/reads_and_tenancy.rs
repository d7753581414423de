//! What a token may see through references, the bounds of reference
//! expansion, another organization's token on every endpoint, and logs.

use folio::auth::{Operation, Scope, TokenRecord};
use folio::ids::CollectionKey;
use folio::reads::expand::{MAX_EXPANDED_ITEMS, MAX_RESPONSE_BYTES};
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

/// `posts` reference `secrets` (restrict) in an unlocalized org.
async fn app() -> TestApp {
    let t = TestApp::spawn_with(&[]).await;
    let secrets = json!({"name": "Secrets", "fields": [{"key": "code", "type": "text"}]});
    assert_eq!(t.put_collection("secrets", secrets).await.status, 201);
    let posts = json!({"name": "Posts", "fields": [
        {"key": "title", "type": "text"},
        {"key": "secret", "type": "reference", "collection": "secrets"},
        {"key": "others", "type": "reference", "collection": "secrets", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("posts", posts).await.status, 201);
    t
}

async fn token(
    t: &TestApp,
    scopes: &[Scope],
    collections: &[&str],
    ops: Option<&[Operation]>,
) -> String {
    t.mint_record(TokenRecord {
        org: t.org.clone(),
        scopes: scopes.to_vec(),
        collections: Some(
            collections
                .iter()
                .map(|c| CollectionKey::parse(c).unwrap())
                .collect(),
        ),
        operations: ops.map(<[Operation]>::to_vec),
        revoked: false,
        name: None,
        created_at: folio::clock::now(),
    })
    .await
}

#[tokio::test]
async fn a_limited_token_sees_nothing_of_other_collections_through_references() {
    let t = app().await;
    let secret = t
        .create("secrets", "published", json!({"code": "hunter2"}))
        .await;
    let post = t
        .create(
            "posts",
            "draft",
            json!({"title": "P", "secret": secret, "others": [secret]}),
        )
        .await;
    let reader = token(&t, &[Scope::Read], &["posts"], None).await;
    let link = format!("/v2/content/?keys=secrets[_id={secret}]");
    for path in [
        format!("/v2/content/posts/{post}/?preview=1&levels=3"),
        "/v2/content/posts/?preview=1&levels=3".to_owned(),
    ] {
        let r = t.request_as("GET", &path, None, Some(&reader), &[]).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        let item = if r.body["data"].is_object() {
            r.body["data"]["posts"][0].clone()
        } else {
            r.body.clone()
        };
        assert_eq!(item["secret"], json!(link), "{path}");
        assert_eq!(item["others"], json!([link]), "{path}");
        assert!(!r.body.to_string().contains("hunter2"));
    }
    // The full token still expands it.
    let r = t
        .request("GET", &format!("/v2/content/posts/{post}/?preview=1"), None)
        .await;
    assert_eq!(r.body["secret"]["code"], "hunter2");

    // A writer limited to posts cannot reference a secret: 403 naming it,
    // nothing written, and no hint whether the id exists.
    let writer = token(&t, &[Scope::Read, Scope::Write], &["posts"], None).await;
    for target in [secret.clone(), folio::ids::ItemId::new().to_string()] {
        let body =
            json!({"key": "posts", "fields": [{"title": "X", "secret": target}]}).to_string();
        let r = t
            .request_as("POST", "/v2/content/", Some(body), Some(&writer), &[])
            .await;
        assert_eq!(r.status, 403, "{:?}", r.body);
        assert!(r.detail().contains("secrets"), "{}", r.detail());
        let patch = json!({"fields": {"others": [target]}}).to_string();
        let r = t
            .request_as(
                "PATCH",
                &format!("/v2/content/posts/{post}/"),
                Some(patch),
                Some(&writer),
                &[],
            )
            .await;
        assert_eq!(r.status, 403);
    }
    assert_eq!(
        t.stored("secrets", &secret).await.unwrap().restrict_count,
        1
    );

    // A refused delete names only referrers the token may read.
    let keeper = token(&t, &[Scope::Read, Scope::Write], &["secrets"], None).await;
    let r = t
        .request_as(
            "DELETE",
            &format!("/v2/content/secrets/{secret}/"),
            None,
            Some(&keeper),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["referenced_by"], json!([]));
    assert_eq!(r.body["referenced_by_total"], 1);
    let r = t
        .request("DELETE", &format!("/v2/content/secrets/{secret}/"), None)
        .await;
    assert_eq!(r.body["referenced_by"][0]["id"], json!(post));
    assert_eq!(r.body["referenced_by_total"], 1);
}

#[tokio::test]
async fn reference_expansion_is_bounded_and_fetches_each_item_once() {
    let t = TestApp::spawn_with(&[]).await;
    let nodes = json!({"name": "Nodes", "fields": [
        {"key": "body", "type": "long_text"},
        {"key": "links", "type": "reference", "collection": "nodes", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("nodes", nodes).await.status, 201);
    let n = folio::content::MAX_TARGETS;
    let body = "x".repeat(6 * 1024);
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(t.create("nodes", "published", json!({"body": body})).await);
    }
    // Every node links every other: output would grow as 23^depth.
    for id in &ids {
        let others: Vec<&String> = ids.iter().filter(|o| *o != id).collect();
        let r = t
            .request(
                "PATCH",
                &format!("/v2/content/nodes/{id}/"),
                Some(json!({"fields": {"links": others}})),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    for path in [
        format!("/v2/content/nodes/{}/?levels=5", ids[0]),
        "/v2/content/nodes/?levels=5&page_size=100".to_owned(),
    ] {
        let r = t.request("GET", &path, None).await;
        assert_eq!(r.status, 200, "{path}");
        let size = r.body.to_string().len();
        assert!(
            size <= MAX_RESPONSE_BYTES + 64 * 1024,
            "{path}: {size} bytes"
        );
        let text = r.body.to_string();
        let expanded = text.matches("\"meta\"").count();
        assert!(
            expanded > 24 && expanded <= MAX_EXPANDED_ITEMS + 100,
            "{path}: {expanded}"
        );
        assert!(
            text.contains("/v2/content/?keys=nodes[_id="),
            "past the budget: links"
        );
    }
    // Within the budget, everything to the depth asked for is expanded.
    let r = t
        .request(
            "GET",
            &format!("/v2/content/nodes/{}/?levels=2", ids[0]),
            None,
        )
        .await;
    let links = r.body["links"].as_array().unwrap();
    assert_eq!(links.len(), n - 1);
    assert!(links.iter().all(|l| l["body"] == json!(body)));
    assert!(links
        .iter()
        .all(|l| l["links"].as_array().unwrap().iter().all(Value::is_string)));
}

/// Every route of the API with a path into this org's data.
fn routes(item: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", "/v2/collections/team_members/".into(), None),
        (
            "POST",
            "/v2/content/team_members/".into(),
            Some(json!({"fields": [{"en": {"name": "X"}}]})),
        ),
        (
            "POST",
            "/v2/content/".into(),
            Some(json!({"key": "team_members", "fields": [{"en": {"name": "X"}}]})),
        ),
        ("GET", "/v2/content/team_members/".into(), None),
        ("GET", format!("/v2/content/team_members/{item}/"), None),
        (
            "PUT",
            format!("/v2/content/team_members/{item}/"),
            Some(json!({"fields": {"en": {"name": "Y"}}})),
        ),
        (
            "PATCH",
            format!("/v2/content/team_members/{item}/"),
            Some(json!({"fields": {"en": {"name": "Y"}}})),
        ),
        ("DELETE", format!("/v2/content/team_members/{item}/"), None),
        (
            "POST",
            "/v2/content/team_members/batch-delete/".into(),
            Some(json!([item])),
        ),
        ("GET", "/v2/content/team_members/deleted/".into(), None),
        (
            "POST",
            format!("/v2/content/team_members/{item}/restore/"),
            None,
        ),
        // Last: it defines the stranger's own collection of that name.
        (
            "PUT",
            "/v2/collections/team_members/".into(),
            Some(json!({"name": "Stolen", "fields": []})),
        ),
    ]
}

#[tokio::test]
async fn another_organizations_token_gets_404_on_every_endpoint_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let item = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let before = t.stored("team_members", &item).await.unwrap();
    let other_org = t.create_org(&["en"]).await;
    let stranger = t
        .mint(&other_org, &[Scope::Admin, Scope::Write, Scope::Read])
        .await;
    for (method, path, body) in routes(&item) {
        let r = t
            .request_as(
                method,
                &path,
                body.map(|b| b.to_string()),
                Some(&stranger),
                &[],
            )
            .await;
        // A create in the stranger's own org names a collection it lacks;
        // a PUT of a collection defines the stranger's own. Neither touches ours.
        match (method, path.as_str()) {
            ("PUT", "/v2/collections/team_members/") => assert_eq!(r.status, 201, "{path}"),
            _ => assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body),
        }
    }
    let after = t.stored("team_members", &item).await.unwrap();
    assert_eq!(after.version, before.version);
    assert_eq!(after.fields, before.fields);
    assert!(after.deleted_at.is_none());
    let ours = t
        .request("GET", "/v2/collections/team_members/", None)
        .await;
    assert_eq!(ours.body["name"], "Team members");
    let list = t.request("GET", "/v2/content/team_members/", None).await;
    assert_eq!(list.body["meta"]["count"], 1);
}

#[tokio::test]
async fn no_token_reaches_the_logs() {
    let t = TestApp::spawn().await;
    let (captured, _guard) = folio_tests::capture_logs(tracing::Level::TRACE);
    let item = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let query = format!("/v2/content/team_members/?auth_token={}", t.token);
    let r = t.request_as("GET", &query, None, None, &[]).await;
    assert_eq!(r.status, 200);
    let r = t
        .request_as(
            "GET",
            &format!("/v2/content/team_members/{item}/"),
            None,
            None,
            &[("x-auth-token", &t.token)],
        )
        .await;
    assert_eq!(r.status, 200);
    // Refusals and a wrong token log too.
    t.request(
        "POST",
        "/v2/content/",
        Some(json!({"key": "team_members", "fields": [{}]})),
    )
    .await;
    let wrong = "folio_0123456789abcdef0123456789abcdef01234567";
    let r = t
        .request_as("GET", "/v2/content/team_members/", None, Some(wrong), &[])
        .await;
    assert_eq!(r.status, 401);
    t.request("DELETE", &format!("/v2/content/team_members/{item}/"), None)
        .await;
    let logs = captured.text();
    assert!(logs.contains("handled"), "the capture works: {logs}");
    assert!(!logs.contains(&t.token), "a token reached the logs");
    assert!(!logs.contains(wrong), "a presented token reached the logs");
    assert!(!logs.contains(&t.token[folio::auth::TOKEN_PREFIX.len()..]));
}

#[tokio::test]
async fn reads_carry_validators_and_an_unchanged_resource_is_a_304() {
    let t = app().await;
    let secret = t
        .create("secrets", "published", json!({"code": "s1"}))
        .await;
    let plain = t
        .create("posts", "published", json!({"title": "Plain"}))
        .await;
    let linked = t
        .create(
            "posts",
            "published",
            json!({"title": "Linked", "secret": secret}),
        )
        .await;
    let get = |path: String, tag: Option<String>| {
        let t = &t;
        async move {
            let held: Vec<(&str, &str)> = tag
                .as_deref()
                .map(|tag| vec![("If-None-Match", tag)])
                .unwrap_or_default();
            t.request_as("GET", &path, None, Some(&t.token), &held)
                .await
        }
    };

    // An item without references is tagged by its version alone.
    let item = format!("/v2/content/posts/{plain}/");
    let r = get(item.clone(), None).await;
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));
    assert!(r.header("x-request-id").is_some_and(|id| !id.is_empty()));
    let r = get(item.clone(), Some("\"1\"".into())).await;
    assert_eq!(r.status, 304);
    assert_eq!(r.body, Value::Null, "a 304 has no body");
    let patch = json!({"fields": {"title": "Plain 2"}});
    assert_eq!(t.request("PATCH", &item, Some(patch)).await.status, 202);
    let r = get(item.clone(), Some("\"1\"".into())).await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"2\"")));

    // A schema change shows in the body (a new field reads null) without
    // the item's version: its tag changes, until the item is written again.
    let posts = json!({"name": "Posts", "fields": [
        {"key": "title", "type": "text"},
        {"key": "subtitle", "type": "text"},
        {"key": "secret", "type": "reference", "collection": "secrets"},
        {"key": "others", "type": "reference", "collection": "secrets", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("posts", posts).await.status, 200);
    let r = get(item.clone(), Some("\"2\"".into())).await;
    assert_eq!(r.status, 200, "not a stale 304");
    assert_eq!(r.body["subtitle"], Value::Null);
    assert!(
        r.header("etag").unwrap().starts_with("\"2-"),
        "{:?}",
        r.header("etag")
    );
    let patch = json!({"fields": {"subtitle": "s"}});
    assert_eq!(t.request("PATCH", &item, Some(patch)).await.status, 202);
    assert_eq!(get(item.clone(), None).await.header("etag"), Some("\"3\""));

    // An item showing an expanded reference changes when the reference
    // does, though its own version stays: its tag says both.
    let item = format!("/v2/content/posts/{linked}/");
    let first = get(item.clone(), None).await;
    let tag = first.header("etag").unwrap().to_owned();
    assert!(tag.starts_with("\"1-"), "{tag}");
    assert_eq!(get(item.clone(), Some(tag.clone())).await.status, 304);
    let secret_path = format!("/v2/content/secrets/{secret}/");
    let patch = json!({"fields": {"code": "s2"}});
    assert_eq!(
        t.request("PATCH", &secret_path, Some(patch)).await.status,
        202
    );
    let moved = get(item.clone(), Some(tag.clone())).await;
    assert_eq!(moved.status, 200);
    assert_eq!(moved.body["secret"]["code"], "s2");
    assert_ne!(moved.header("etag"), Some(tag.as_str()));
    // ...and is still a valid If-Match for a write of the item.
    let r = t
        .request_as(
            "PATCH",
            &item,
            Some(json!({"fields": {"title": "L2"}}).to_string()),
            Some(&t.token),
            &[("If-Match", moved.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);

    // Lists are tagged by their content.
    let list = "/v2/content/posts/".to_owned();
    let first = get(list.clone(), None).await;
    let tag = first.header("etag").unwrap().to_owned();
    assert_eq!(get(list.clone(), Some(tag.clone())).await.status, 304);
    t.create("posts", "published", json!({"title": "New"}))
        .await;
    let r = get(list.clone(), Some(tag.clone())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["count"], 3);

    // Drafts and admin data are never stored by a cache; errors neither,
    // and they carry the request id too.
    let preview = get("/v2/content/posts/?preview=1".into(), None).await;
    assert_eq!(preview.header("cache-control"), Some("no-store"));
    assert!(preview.header("etag").is_some());
    let trash = get("/v2/content/posts/deleted/".into(), None).await;
    assert_eq!(trash.header("cache-control"), Some("no-store"));
    let missing = get("/v2/content/posts/01JF0000000000000000000000/".into(), None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), Some("no-store"));
    assert!(missing.header("x-request-id").is_some());
    assert!(missing.header("etag").is_none());
}

/// One instance still holds the schema from before a field was added (for
/// its cache's 30 s), another reads the new one. An item written after the
/// change is rendered alike by both (the first reads the schema again,
/// older than the item), under one tag; a field added after the item's last
/// write shows on one instance only, and each tag names the body it came
/// with: neither instance answers 304 to the other's tag, and either is an
/// `If-Match` for a write.
#[tokio::test]
async fn an_instance_holding_an_old_schema_never_answers_304_to_a_tag_of_the_new_one() {
    let t = app().await;
    let id = t
        .create("posts", "published", json!({"title": "One"}))
        .await;
    let item = format!("/v2/content/posts/{id}/");
    assert_eq!(t.request("GET", &item, None).await.status, 200);

    // Another instance adds a field and writes the item: the first one,
    // its schema cached before that write, renders the item as the other
    // does (the newer schema, read again), under one tag.
    let fresh = folio::app::App::new(&t.sdk, folio_tests::test_config(&t.table));
    let with = |fields: &[&str]| {
        let mut all = vec![
            json!({"key": "title", "type": "text"}),
            json!({"key": "secret", "type": "reference", "collection": "secrets"}),
            json!({"key": "others", "type": "reference", "collection": "secrets", "many": true, "on_delete": "detach"}),
        ];
        all.extend(fields.iter().map(|f| json!({"key": f, "type": "text"})));
        json!({"name": "Posts", "fields": all})
    };
    let put = |schema| t.on(&fresh, "PUT", "/v2/collections/posts/", Some(schema), &[]);
    let r = put(with(&["subtitle"])).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let patch = json!({"fields": {"title": "Two", "subtitle": "Sub"}});
    let r = t.on(&fresh, "PATCH", &item, Some(patch), &[]).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let new = t.on(&fresh, "GET", &item, None, &[]).await;
    let old = t.request("GET", &item, None).await;
    assert_eq!(
        old.body["subtitle"], "Sub",
        "never an old schema: {:?}",
        old.body
    );
    assert_eq!(old.body, new.body);
    assert_eq!(old.header("etag"), Some("\"2\""));
    assert_eq!(new.header("etag"), Some("\"2\""));

    // A field added after the item's last write: the first instance still
    // holds the schema before it (read after that write) and shows no such
    // field; the other shows it, under a tag of its body.
    let r = put(with(&["subtitle", "kicker"])).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = t.on(&fresh, "GET", &item, None, &[]).await;
    let old = t.request("GET", &item, None).await;
    assert_eq!(new.body["kicker"], Value::Null, "{:?}", new.body);
    assert!(old.body.get("kicker").is_none(), "{:?}", old.body);
    let new_tag = new.header("etag").unwrap().to_owned();
    let old_tag = old.header("etag").unwrap().to_owned();
    assert_eq!(old_tag, "\"2\"");
    assert!(new_tag.starts_with("\"2-"), "{new_tag}");

    // Each instance: 304 to its own tag, the full body to the other's.
    for (app, own, other) in [(&t.app, &old_tag, &new_tag), (&fresh, &new_tag, &old_tag)] {
        let r = t
            .on(app, "GET", &item, None, &[("If-None-Match", own)])
            .await;
        assert_eq!(r.status, 304);
        let r = t
            .on(app, "GET", &item, None, &[("If-None-Match", other)])
            .await;
        assert_eq!(r.status, 200, "{other} is not {own}");
        assert_eq!(r.header("etag"), Some(own.as_str()));
    }

    // Both name version 2 to a write.
    let patch = json!({"fields": {"title": "Three"}});
    let r = t
        .request_as(
            "PATCH",
            &item,
            Some(patch.to_string()),
            Some(&t.token),
            &[("If-Match", &new_tag)],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let patch = json!({"fields": {"title": "Four"}});
    let r = t
        .on(
            &fresh,
            "PATCH",
            &item,
            Some(patch),
            &[("If-Match", &old_tag)],
        )
        .await;
    assert_eq!(r.status, 412, "version 2 is gone: {:?}", r.body);
    assert_eq!(r.body["current_version"], 3);
}
