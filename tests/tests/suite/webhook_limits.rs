//! What a token may do with webhook endpoints (the third audit's first two
//! findings): every route keeps to the token's operations and collections
//! and to its organization; an organization has at most
//! `FOLIO_WEBHOOKS_PER_ORG` endpoints, also under concurrent registrations;
//! the list pages; a second rotation waits for the first one's overlap.

use std::time::Duration;

use folio::auth::{Operation, Scope, TokenRecord};
use folio::ids::{CollectionKey, WebhookId};
use folio_local::receiver::{always, Receiver};
use folio_tests::{folio, TestApp, TestResponse};
use serde_json::{json, Value};

async fn token(
    t: &TestApp,
    collections: Option<&[&str]>,
    operations: Option<&[Operation]>,
) -> String {
    t.mint_record(TokenRecord {
        org: t.org.clone(),
        scopes: vec![Scope::Admin],
        collections: collections
            .map(|c| c.iter().map(|k| CollectionKey::parse(k).unwrap()).collect()),
        operations: operations.map(<[Operation]>::to_vec),
        revoked: false,
        name: None,
        created_at: folio::clock::now(),
    })
    .await
}

async fn as_token(
    t: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    t.request_as(method, path, body.map(|b| b.to_string()), Some(token), &[])
        .await
}

/// PUT `path` (a webhook) with `body`, as the organization's full admin.
async fn put(t: &TestApp, path: &str, body: Value) -> TestResponse {
    t.request("PUT", path, Some(body)).await
}

/// A test app whose organization has endpoint `site`, for every collection.
async fn with_site() -> TestApp {
    let t = TestApp::spawn().await;
    let r = put(
        &t,
        "/v2/webhooks/site/",
        spec("http://127.0.0.1:9/x", json!(null)),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    t
}

fn spec(url: &str, collections: Value) -> Value {
    json!({"url": url, "events": ["collectionitem.*"], "collections": collections})
}

async fn stored(t: &TestApp, id: &str) -> Option<folio::webhooks::Webhook> {
    t.app
        .store
        .get_webhook(&t.org, &WebhookId::parse(id).unwrap())
        .await
        .unwrap()
}

fn listed(r: &TestResponse) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {:?}", r.body))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_collection_limited_token_sees_and_touches_only_endpoints_within_its_collections() {
    let t = TestApp::spawn_with(&[]).await;
    let schema = json!({"name": "Secret", "fields": [{"key": "title", "type": "text"}]});
    assert_eq!(t.put_collection("secret_docs", schema).await.status, 201);
    let receiver = Receiver::start(always(200)).await.unwrap();
    // Endpoints the organization's full admin registered: one for every
    // collection, one for secret_docs alone.
    for (id, collections) in [("all", json!(null)), ("secret", json!(["secret_docs"]))] {
        let r = put(
            &t,
            &format!("/v2/webhooks/{id}/"),
            spec(&receiver.url, collections),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // A real delivery to "all", so its retry below is refused for the
    // token, not for want of a delivery.
    t.create("secret_docs", "published", json!({"title": "S1"}))
        .await;
    t.deliver_until(Duration::from_secs(30), || receiver.count() >= 2)
        .await;
    let log = t.request("GET", "/v2/webhooks/all/deliveries/", None).await;
    let delivery = log.body["data"][0]["delivery_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a delivery: {:?}", log.body))
        .to_owned();
    let sent = receiver.count();

    let team = token(&t, Some(&["team_members"]), None).await;
    // Registering for a collection out of reach, or for all: 403, nothing written.
    let r = as_token(
        &t,
        &team,
        "PUT",
        "/v2/webhooks/mine/",
        Some(spec(&receiver.url, json!(["team_members", "secret_docs"]))),
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.detail().contains("secret_docs"), "{}", r.detail());
    let r = as_token(
        &t,
        &team,
        "PUT",
        "/v2/webhooks/mine/",
        Some(spec(&receiver.url, json!(null))),
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.detail().contains("collections"), "{}", r.detail());
    assert!(stored(&t, "mine").await.is_none());
    let r = as_token(
        &t,
        &team,
        "PUT",
        "/v2/webhooks/mine/",
        Some(spec(&receiver.url, json!(["team_members"]))),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // It sees only its own endpoint; the others are not there for it.
    let list = as_token(&t, &team, "GET", "/v2/webhooks/", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(listed(&list), ["mine"]);
    for id in ["all", "secret"] {
        let base = format!("/v2/webhooks/{id}/");
        for (method, path, body) in [
            ("GET", base.clone(), None),
            ("GET", format!("{base}deliveries/"), None),
            (
                "PUT",
                base.clone(),
                Some(spec("http://127.0.0.1:9/stolen", json!(["team_members"]))),
            ),
            ("POST", format!("{base}rotate/"), None),
            ("POST", format!("{base}test/"), None),
            ("POST", format!("{base}deliveries/{delivery}/retry/"), None),
            ("DELETE", base.clone(), None),
        ] {
            let r = as_token(&t, &team, method, &path, body).await;
            assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
        }
    }
    // Nothing was changed, rotated, sent or deleted.
    let all = stored(&t, "all").await.expect("still there");
    assert_eq!(all.url, receiver.url);
    assert!(all.previous_secret.is_none(), "not rotated");
    assert!(stored(&t, "secret").await.is_some());
    assert_eq!(receiver.count(), sent, "no test ping, no retry");
    // Its own endpoint it manages in full.
    let r = as_token(&t, &team, "POST", "/v2/webhooks/mine/rotate/", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = as_token(&t, &team, "DELETE", "/v2/webhooks/mine/", None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

#[tokio::test]
async fn operation_limits_bind_every_webhook_route() {
    let t = TestApp::spawn().await;
    let receiver = Receiver::start(always(200)).await.unwrap();
    let r = put(&t, "/v2/webhooks/site/", spec(&receiver.url, json!(null))).await;
    assert_eq!(r.status, 201);
    let before = stored(&t, "site").await.unwrap();

    let reader = token(&t, None, Some(&[Operation::Read])).await;
    assert_eq!(
        as_token(&t, &reader, "GET", "/v2/webhooks/site/", None)
            .await
            .status,
        200
    );
    assert_eq!(
        as_token(&t, &reader, "GET", "/v2/webhooks/", None)
            .await
            .status,
        200
    );
    assert_eq!(
        as_token(&t, &reader, "GET", "/v2/webhooks/site/deliveries/", None)
            .await
            .status,
        200
    );
    for (method, path, body, missing) in [
        (
            "PUT",
            "/v2/webhooks/site/",
            Some(spec("http://127.0.0.1:9/x", json!(null))),
            "update",
        ),
        (
            "PUT",
            "/v2/webhooks/new/",
            Some(spec("http://127.0.0.1:9/x", json!(null))),
            "create",
        ),
        ("POST", "/v2/webhooks/site/rotate/", None, "update"),
        ("POST", "/v2/webhooks/site/test/", None, "update"),
        (
            "POST",
            "/v2/webhooks/site/deliveries/msg_0123456789abcdef0123456789abcdef/retry/",
            None,
            "update",
        ),
        ("DELETE", "/v2/webhooks/site/", None, "delete"),
    ] {
        let r = as_token(&t, &reader, method, path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.body);
        assert!(
            r.detail().contains(missing),
            "{method} {path}: {}",
            r.detail()
        );
    }
    assert_eq!(stored(&t, "site").await.unwrap(), before, "nothing changed");
    assert!(stored(&t, "new").await.is_none());
    assert_eq!(receiver.count(), 0, "no ping was sent");

    // create alone registers but does not change; update alone changes but
    // does not register; delete alone deletes.
    let creator = token(&t, None, Some(&[Operation::Create])).await;
    let body = Some(spec(&receiver.url, json!(null)));
    let r = as_token(&t, &creator, "PUT", "/v2/webhooks/new/", body.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = as_token(&t, &creator, "PUT", "/v2/webhooks/site/", body.clone()).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.detail().contains("update"), "{}", r.detail());
    let updater = token(&t, None, Some(&[Operation::Update])).await;
    let r = as_token(&t, &updater, "PUT", "/v2/webhooks/other/", body.clone()).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.detail().contains("create"), "{}", r.detail());
    let moved = Some(spec(&receiver.url, json!(["team_members"])));
    let r = as_token(&t, &updater, "PUT", "/v2/webhooks/site/", moved).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let deleter = token(&t, None, Some(&[Operation::Delete])).await;
    let r = as_token(&t, &deleter, "DELETE", "/v2/webhooks/new/", None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

#[tokio::test]
async fn another_organizations_token_finds_no_webhook() {
    let t = with_site().await;
    let other = t.create_org(&[]).await;
    let stranger = t.mint(&other, &[Scope::Admin]).await;
    let list = as_token(&t, &stranger, "GET", "/v2/webhooks/", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(listed(&list), Vec::<String>::new());
    for (method, path) in [
        ("GET", "/v2/webhooks/site/"),
        ("GET", "/v2/webhooks/site/deliveries/"),
        ("POST", "/v2/webhooks/site/rotate/"),
        ("POST", "/v2/webhooks/site/test/"),
        (
            "POST",
            "/v2/webhooks/site/deliveries/msg_0123456789abcdef0123456789abcdef/retry/",
        ),
        ("DELETE", "/v2/webhooks/site/"),
    ] {
        let r = as_token(&t, &stranger, method, path, None).await;
        assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
    }
    assert!(stored(&t, "site").await.is_some());
}

#[tokio::test]
async fn an_organization_registers_at_most_its_cap_of_endpoints_even_at_once() {
    let mut t = TestApp::spawn().await;
    t.app.config.webhooks_per_org = 5;
    let url = "http://127.0.0.1:9/hook";
    for id in ["a", "b"] {
        let r = put(&t, &format!("/v2/webhooks/{id}/"), spec(url, json!(null))).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // Ten registrations at once for the three places left.
    let paths: Vec<String> = (0..10).map(|i| format!("/v2/webhooks/race-{i}/")).collect();
    let attempts = futures::future::join_all(
        paths
            .iter()
            .map(|p| t.request("PUT", p, Some(spec(url, json!(null))))),
    )
    .await;
    let created = attempts.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&TestResponse> = attempts.iter().filter(|r| r.status == 409).collect();
    assert_eq!(created, 3, "{attempts:?}");
    assert_eq!(refused.len(), 7, "{attempts:?}");
    assert!(refused[0].detail().contains('5'), "{}", refused[0].detail());
    let all = t.request("GET", "/v2/webhooks/", None).await;
    assert_eq!(listed(&all).len(), 5);

    // At the cap, an endpoint still changes; one deleted makes room.
    let r = put(&t, "/v2/webhooks/a/", spec(url, json!(["team_members"]))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        t.request("DELETE", "/v2/webhooks/b/", None).await.status,
        204
    );
    let r = t
        .request("PUT", "/v2/webhooks/c/", Some(spec(url, json!(null))))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = t
        .request("PUT", "/v2/webhooks/d/", Some(spec(url, json!(null))))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}

#[tokio::test]
async fn the_endpoint_list_pages_with_a_cursor_and_skips_what_a_token_cannot_reach() {
    let t = TestApp::spawn().await;
    let url = "http://127.0.0.1:9/hook";
    // Ids sort as written: e0 e1 e2 … e6; the odd ones are for every collection.
    for i in 0..7 {
        let collections = if i % 2 == 0 {
            json!(["team_members"])
        } else {
            json!(null)
        };
        let r = put(&t, &format!("/v2/webhooks/e{i}/"), spec(url, collections)).await;
        assert_eq!(r.status, 201);
    }
    let walk = |token: String, page_size: usize| {
        let t = &t;
        async move {
            let mut seen = Vec::new();
            let mut pages = 0;
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    None => format!("/v2/webhooks/?page_size={page_size}"),
                    Some(c) => format!("/v2/webhooks/?page_size={page_size}&cursor={c}"),
                };
                let r = as_token(t, &token, "GET", &path, None).await;
                assert_eq!(r.status, 200, "{:?}", r.body);
                let page = listed(&r);
                assert!(page.len() <= page_size);
                seen.extend(page);
                pages += 1;
                match r.body["meta"]["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            (seen, pages)
        }
    };
    let (seen, pages) = walk(t.token.clone(), 3).await;
    assert_eq!(seen, ["e0", "e1", "e2", "e3", "e4", "e5", "e6"]);
    assert_eq!(pages, 3, "3 + 3 + 1, no empty page after");
    let full = t.request("GET", "/v2/webhooks/", None).await;
    assert_eq!(listed(&full).len(), 7);
    assert_eq!(full.body["meta"]["next_cursor"], json!(null));

    let team = token(&t, Some(&["team_members"]), None).await;
    let (seen, pages) = walk(team, 2).await;
    assert_eq!(seen, ["e0", "e2", "e4", "e6"]);
    assert_eq!(pages, 2);

    for query in [
        "page_size=0",
        "page_size=101",
        "page_size=x",
        "cursor=bogus",
    ] {
        let r = t
            .request("GET", &format!("/v2/webhooks/?{query}"), None)
            .await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
    }
}

#[tokio::test]
async fn a_second_rotation_waits_until_the_previous_secret_has_expired() {
    let t = with_site().await;
    let first = t.request("POST", "/v2/webhooks/site/rotate/", None).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let after_first = stored(&t, "site").await.unwrap();
    let second = t.request("POST", "/v2/webhooks/site/rotate/", None).await;
    assert_eq!(second.status, 409, "{:?}", second.body);
    assert!(
        second
            .detail()
            .contains(first.body["previous_secret_expires_at"].as_str().unwrap()),
        "{}",
        second.detail()
    );
    assert_eq!(
        stored(&t, "site").await.unwrap(),
        after_first,
        "both secrets kept"
    );
}

#[tokio::test]
async fn a_delivery_is_not_resent_outside_the_endpoints_filter_or_the_tokens_collections() {
    let t = TestApp::spawn_with(&[]).await;
    let schema = json!({"name": "Secret", "fields": [{"key": "title", "type": "text"}]});
    assert_eq!(t.put_collection("secret_docs", schema).await.status, 201);
    // An endpoint for every collection whose receiver fails: the delivery
    // of a secret_docs event stays undelivered, and retryable by hand.
    let receiver = Receiver::start(always(500)).await.unwrap();
    let r = put(&t, "/v2/webhooks/site/", spec(&receiver.url, json!(null))).await;
    assert_eq!(r.status, 201);
    t.create("secret_docs", "published", json!({"title": "S1"}))
        .await;
    t.deliver_until(Duration::from_secs(30), || receiver.count() >= 1)
        .await;
    let log = t
        .request("GET", "/v2/webhooks/site/deliveries/", None)
        .await;
    let delivery = log.body["data"][0]["delivery_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a delivery: {:?}", log.body))
        .to_owned();
    let retry = format!("/v2/webhooks/site/deliveries/{delivery}/retry/");

    // The organization's admin narrows the endpoint to team_members: a
    // token limited to team_members now reaches it, and may re-point it,
    // but the secret_docs delivery in its log is not there for that token,
    // and nobody re-sends it to an endpoint that no longer asks for it.
    let r = put(
        &t,
        "/v2/webhooks/site/",
        spec(&receiver.url, json!(["team_members"])),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let team = token(&t, Some(&["team_members"]), None).await;
    let sent = receiver.count();
    let r = as_token(&t, &team, "POST", &retry, None).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let r = t.request("POST", &retry, None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(
        r.detail().contains("no longer subscribes"),
        "{}",
        r.detail()
    );
    assert_eq!(receiver.count(), sent, "nothing was re-sent");
}
