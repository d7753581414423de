//! One test per defect of the outside audit (issue 7), each failing on the
//! code before the fix, against DynamoDB Local.

use folio::auth::{Operation, Scope, TokenRecord};
use folio::content::MAX_TARGETS;
use folio::ids::{CollectionKey, ItemId};
use folio::store::ItemWrite;
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

/// `people` (restrict `manager`, detach `mentors`, restrict list `friends`,
/// detach list `fans`) in an unlocalized org.
async fn app() -> TestApp {
    let t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "age", "type": "number"},
        {"key": "manager", "type": "reference", "collection": "people"},
        {"key": "mentors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"},
        {"key": "friends", "type": "reference", "collection": "people", "many": true},
        {"key": "fans", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    t
}

async fn people(t: &TestApp, n: usize) -> Vec<String> {
    let fields: Vec<Value> = (0..n).map(|i| json!({"name": format!("P{i}")})).collect();
    let mut ids = Vec::new();
    for chunk in fields.chunks(25) {
        let r = t
            .request(
                "POST",
                "/v2/content/",
                Some(json!({"key": "people", "status": "published", "fields": chunk})),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        for item in r.body["items"].as_array().unwrap() {
            ids.push(item["meta"]["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

fn path(id: &str) -> String {
    format!("/v2/content/people/{id}/")
}

#[tokio::test]
async fn every_item_within_the_reference_limit_can_be_changed_deleted_and_restored() {
    let t = app().await;
    let ids = people(&t, 2 * MAX_TARGETS + 1).await;
    let (first, second) = ids[..2 * MAX_TARGETS].split_at(MAX_TARGETS);
    // Half restrict, half detach: the most a write can touch.
    let (r1, d1) = first.split_at(MAX_TARGETS / 2);
    let (r2, d2) = second.split_at(MAX_TARGETS / 2);
    let item = t
        .create(
            "people",
            "published",
            json!({"name": "Hub", "friends": r1, "fans": d1}),
        )
        .await;
    // A patch that swaps every reference: releases all, links as many.
    let r = t
        .request(
            "PATCH",
            &path(&item),
            Some(json!({"fields": {"friends": r2, "fans": d2}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(t.stored("people", &r1[0]).await.unwrap().restrict_count, 0);
    assert_eq!(t.stored("people", &r2[0]).await.unwrap().restrict_count, 1);
    // A PUT that swaps them back.
    let r = t
        .request(
            "PUT",
            &path(&item),
            Some(json!({"fields": {"name": "Hub", "friends": r1, "fans": d1}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(t.request("DELETE", &path(&item), None).await.status, 204);
    assert_eq!(t.stored("people", &r1[0]).await.unwrap().restrict_count, 0);
    let r = t
        .request("POST", &format!("/v2/content/people/{item}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(t.stored("people", &r1[0]).await.unwrap().restrict_count, 1);

    // The limit counts the item's targets after the write, not the request's.
    let one_more = &ids[2 * MAX_TARGETS];
    let r = t
        .request(
            "PATCH",
            &path(&item),
            Some(json!({"fields": {"manager": one_more}})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["errors"]["fields"][0]
        .as_str()
        .unwrap()
        .contains(&MAX_TARGETS.to_string()));
    assert!(
        t.stored("people", one_more).await.unwrap().restrict_count == 0,
        "nothing written"
    );
    let too_many: Vec<&String> = ids.iter().take(MAX_TARGETS + 1).collect();
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "people", "fields": [{"name": "X", "fans": too_many}]})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

/// DynamoDB Local runs no TTL: a purge is the item record deleted.
async fn purge(t: &TestApp, id: &str) {
    let key = folio::store::keys::item(
        &t.org,
        &CollectionKey::parse("people").unwrap(),
        &ItemId::parse(id).unwrap(),
    );
    t.app
        .store
        .client()
        .delete_item()
        .table_name(&t.table)
        .set_key(Some(key))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_purged_detach_target_never_blocks_its_referrers() {
    let t = app().await;
    let ids = people(&t, 3).await;
    let (mentor, other) = (&ids[0], &ids[1]);
    let ada = t
        .create(
            "people",
            "published",
            json!({"name": "Ada", "mentors": [mentor, other]}),
        )
        .await;
    let bob = t
        .create(
            "people",
            "published",
            json!({"name": "Bob", "mentors": [mentor]}),
        )
        .await;
    assert_eq!(t.request("DELETE", &path(mentor), None).await.status, 204);
    purge(&t, mentor).await;
    // Editing other fields and dropping the gone target both work.
    let r = t
        .request("PATCH", &path(&ada), Some(json!({"fields": {"age": 3}})))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let r = t
        .request(
            "PATCH",
            &path(&ada),
            Some(json!({"fields": {"mentors": [other]}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    // Deleting a referrer of the gone target: 204, not 409.
    assert_eq!(t.request("DELETE", &path(&bob), None).await.status, 204);
    // Restoring it drops the link to the gone target.
    let r = t
        .request("POST", &format!("/v2/content/people/{bob}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let stored = t.stored("people", &bob).await.unwrap();
    assert!(
        !stored.fields.contains_key("mentors"),
        "{:?}",
        stored.fields
    );
    assert!(stored.out_refs.is_empty());
}

#[tokio::test]
async fn fifty_concurrent_creates_referencing_one_item_all_succeed() {
    let t = app().await;
    let boss = t
        .create("people", "published", json!({"name": "Boss"}))
        .await;
    let results = futures::future::join_all((0..50).map(|i| {
        t.request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "people", "fields": [{"name": format!("E{i}"), "manager": boss, "fans": [boss]}]})),
        )
    }))
    .await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(t.stored("people", &boss).await.unwrap().restrict_count, 50);
    assert_eq!(t.referrers("people", &boss).await.len(), 50);
}

#[tokio::test]
async fn numbers_dynamodb_cannot_hold_are_a_400_naming_the_field() {
    let t = app().await;
    for n in ["1e200", "-1e200", "1e-200"] {
        let body = format!(r#"{{"key": "people", "fields": [{{"name": "A", "age": {n}}}]}}"#);
        let r = t
            .request_as("POST", "/v2/content/", Some(body), Some(&t.token), &[])
            .await;
        assert_eq!(r.status, 400, "{n}: {:?}", r.body);
        assert!(r.body["errors"]["age"].is_array(), "{:?}", r.body);
    }
    for n in ["1e125", "1e-130", "-12.5", "0"] {
        let body = format!(
            r#"{{"key": "people", "status": "published", "fields": [{{"name": "A", "age": {n}}}]}}"#
        );
        let r = t
            .request_as("POST", "/v2/content/", Some(body), Some(&t.token), &[])
            .await;
        assert_eq!(r.status, 202, "{n}: {:?}", r.body);
        let id = r.body["items"][0]["meta"]["id"].as_str().unwrap();
        let got = t.request("GET", &path(id), None).await;
        assert_eq!(got.body["age"].as_f64(), n.parse::<f64>().ok(), "{n}");
    }
    let list = t
        .request("GET", "/v2/content/people/?preview=1", None)
        .await;
    assert_eq!(
        list.body["meta"]["count"], 4,
        "nothing written for the refused ones"
    );
}

#[tokio::test]
async fn out_of_range_times_and_pages_are_a_400_not_a_panic() {
    let t = app().await;
    let r = t
        .request(
            "GET",
            "/v2/content/people/deleted/?deleted_after=9999-12-31T23:59:59-23:59",
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["errors"]["deleted_after"].is_array());
    let r = t
        .request("GET", "/v2/content/people/?page=18446744073709551615", None)
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["errors"]["page"].is_array());
    let r = t
        .request(
            "GET",
            "/v2/content/people/?page=99999999999999999999999",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .request("GET", "/v2/content/people/?page=1000000", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["meta"]["next_page"], Value::Null);
}

#[tokio::test]
async fn an_oversized_schema_is_refused_and_nothing_stored() {
    let t = app().await;
    let r = t
        .put_collection(
            "big",
            json!({"name": "Big", "description": "x".repeat(420 * 1024), "fields": []}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.detail());
    assert!(r.body["errors"]["description"].is_array());
    let fields: Vec<Value> = (0..100)
        .map(|i| {
            json!({"key": format!("f{i}"), "type": "dropdown",
            "options": (0..100).map(|j| format!("{j}{}", "o".repeat(150))).collect::<Vec<_>>()})
        })
        .collect();
    let r = t
        .put_collection("big", json!({"name": "Big", "fields": fields}))
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert!(r.detail().contains("KB"));
    assert_eq!(
        t.request("GET", "/v2/collections/big/", None).await.status,
        404
    );
}

async fn limited(t: &TestApp, ops: &[Operation]) -> String {
    t.mint_record(TokenRecord {
        org: t.org.clone(),
        scopes: vec![Scope::Admin],
        collections: None,
        operations: Some(ops.to_vec()),
        revoked: false,
        name: None,
        created_at: folio::clock::now(),
    })
    .await
}

#[tokio::test]
async fn operation_limits_bind_admin_routes() {
    let t = app().await;
    let id = t.create("people", "published", json!({"name": "A"})).await;
    assert_eq!(t.request("DELETE", &path(&id), None).await.status, 204);
    let schema = json!({"name": "Posts", "fields": [{"key": "title", "type": "text"}]}).to_string();
    let restore = format!("/v2/content/people/{id}/restore/");

    let reader = limited(&t, &[Operation::Read]).await;
    let r = t
        .request_as(
            "PUT",
            "/v2/collections/posts/",
            Some(schema.clone()),
            Some(&reader),
            &[],
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.detail().contains("create"), "{}", r.detail());
    let r = t
        .request_as("POST", &restore, None, Some(&reader), &[])
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("delete"), "{}", r.detail());
    let r = t
        .request_as(
            "GET",
            "/v2/content/people/deleted/",
            None,
            Some(&reader),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);

    let creator = limited(&t, &[Operation::Create]).await;
    let r = t
        .request_as(
            "PUT",
            "/v2/collections/posts/",
            Some(schema.clone()),
            Some(&creator),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = t
        .request_as(
            "PUT",
            "/v2/collections/posts/",
            Some(schema.clone()),
            Some(&creator),
            &[],
        )
        .await;
    assert_eq!(
        r.status, 403,
        "changing an existing collection is an update"
    );
    assert!(r.detail().contains("update"));
    let r = t
        .request_as(
            "GET",
            "/v2/content/people/deleted/",
            None,
            Some(&creator),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);

    let deleter = limited(&t, &[Operation::Delete]).await;
    let r = t
        .request_as("POST", &restore, None, Some(&deleter), &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn a_retried_write_after_a_lost_response_reports_what_it_did() {
    let t = app().await;
    let ids = people(&t, 2).await;
    let people_key = CollectionKey::parse("people").unwrap();
    let now = folio::clock::now();
    // A plain item (one UpdateItem) and one with references (a transaction).
    let plain = t
        .create("people", "published", json!({"name": "Plain"}))
        .await;
    let linked = t
        .create(
            "people",
            "published",
            json!({"name": "Linked", "manager": ids[0], "fans": [ids[1]]}),
        )
        .await;
    let by = folio::content::Author::worker("audit");
    for id in [&plain, &linked] {
        let w = ItemWrite {
            org: &t.org,
            collection: &people_key,
            id: ItemId::parse(id).unwrap(),
            now: &now,
            expected: None,
            request_id: "req-lost-response",
            indexing: &folio::store::entries::Indexing::none(),
            by: &by,
        };
        let first = t.app.store.soft_delete(&w, 3600).await.unwrap();
        // The SDK's retry of the same request, after the first one landed.
        let again = t.app.store.soft_delete(&w, 3600).await.unwrap();
        assert_eq!(first.version, again.version, "{id}");
        // Every stored reference linked again, as the schema still says.
        let all = |links| {
            Ok(folio::content::Relinks {
                links,
                dropped: Vec::new(),
            })
        };
        let restored = t.app.store.restore(&w, all).await.unwrap();
        assert_eq!(
            t.app.store.restore(&w, all).await.unwrap().version,
            restored.version
        );
    }
    assert_eq!(t.stored("people", &ids[0]).await.unwrap().restrict_count, 1);
    // Another request deleting it is not mistaken for this one.
    let w = ItemWrite {
        org: &t.org,
        collection: &people_key,
        id: ItemId::parse(&plain).unwrap(),
        now: &now,
        expected: None,
        request_id: "req-other",
        indexing: &folio::store::entries::Indexing::none(),
        by: &by,
    };
    t.app.store.soft_delete(&w, 3600).await.unwrap();
    assert!(t.app.store.soft_delete(&w, 3600).await.is_ok());
    let w = ItemWrite {
        request_id: "req-third",
        ..w
    };
    assert!(matches!(
        t.app.store.soft_delete(&w, 3600).await,
        Err(folio::Error::NotFound)
    ));
}

#[tokio::test]
async fn headers_if_match_on_delete_replays_and_no_op_writes() {
    let t = app().await;
    let id = t
        .create("people", "published", json!({"name": "Ada", "age": 36}))
        .await;
    // A non-ASCII If-Match or Idempotency-Key is refused, not ignored.
    let r = t
        .request_as(
            "PATCH",
            &path(&id),
            Some(json!({"fields": {"age": 1}}).to_string()),
            Some(&t.token),
            &[("if-match", "\"1é\"")],
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.detail().contains("if-match"));
    let body = json!({"key": "people", "fields": [{"name": "B"}]}).to_string();
    let r = t
        .request_as(
            "POST",
            "/v2/content/",
            Some(body.clone()),
            Some(&t.token),
            &[("idempotency-key", "clé")],
        )
        .await;
    assert_eq!(r.status, 400);

    // A replayed create says so.
    let first = t
        .request_as(
            "POST",
            "/v2/content/",
            Some(body.clone()),
            Some(&t.token),
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(first.status, 202);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = t
        .request_as(
            "POST",
            "/v2/content/",
            Some(body),
            Some(&t.token),
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);

    // Writes that change nothing keep the version and make no event.
    t.drain_events().await;
    for (method, body) in [
        ("PATCH", json!({"fields": {}})),
        ("PATCH", json!({"fields": {"age": 36}})),
        ("PATCH", json!({"status": "published"})),
        (
            "PUT",
            json!({"status": "published", "fields": {"name": "Ada", "age": 36}}),
        ),
        ("PUT", json!({"fields": {"name": "Ada", "age": 36.0}})),
    ] {
        let r = t.request(method, &path(&id), Some(body.clone())).await;
        assert_eq!(r.status, 202, "{method} {body}: {:?}", r.body);
        assert_eq!(r.body["meta"]["version"], 1, "{method} {body}");
        assert_eq!(r.header("etag"), Some("\"1\""));
    }
    assert!(t.drain_events().await.is_empty());
    let r = t
        .request("PATCH", &path(&id), Some(json!({"fields": {"age": 37}})))
        .await;
    assert_eq!(r.body["meta"]["version"], 2);

    // DELETE honours If-Match.
    let r = t
        .request_as(
            "DELETE",
            &path(&id),
            None,
            Some(&t.token),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 412, "{:?}", r.body);
    assert_eq!(r.body["current_version"], 2);
    assert!(t.stored("people", &id).await.unwrap().deleted_at.is_none());
    let r = t
        .request_as(
            "DELETE",
            &path(&id),
            None,
            Some(&t.token),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 204);
}

// Issue 23, finding 6: a validation error stays small however large the
// request, and its entries are checked only once the list's length is.

/// The body's bytes and the 400 it got: small, with a detail and the count.
fn assert_small_400(r: &folio_tests::TestResponse, errors_total: usize) {
    assert_eq!(r.status, 400, "{}", r.detail());
    assert!(!r.detail().is_empty());
    let bytes = r.body.to_string().len();
    assert!(bytes < 64 * 1024, "a {bytes}-byte error");
    assert_eq!(r.body["errors_total"], errors_total, "{}", r.body["errors"]);
    let shown: usize = r.body["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|m| m.as_array().unwrap().len())
        .sum();
    assert_eq!(shown, errors_total.min(folio::error::ERRORS_SHOWN));
}

#[tokio::test]
async fn a_webhook_with_a_megabyte_of_event_types_is_one_small_400_and_nothing_written() {
    let t = app().await;
    let events: Vec<String> = (0..85_000).map(|i| format!("nope.{i:07}")).collect();
    let body = json!({"url": "http://127.0.0.1:9/hook", "events": events});
    assert!(body.to_string().len() > 1_250_000);
    let r = t.request("PUT", "/v2/webhooks/big/", Some(body)).await;
    assert_small_400(&r, 1);
    assert!(r.body["errors"]["events"][0]
        .as_str()
        .unwrap()
        .contains('8'));
    assert_eq!(
        t.request("GET", "/v2/webhooks/big/", None).await.status,
        404
    );
}

#[tokio::test]
async fn a_webhook_with_six_megabytes_of_collection_keys_is_one_small_400_and_nothing_written() {
    let t = app().await;
    // Bad keys (each would have its own message) up to the 6 MB body bound.
    let collections: Vec<String> = (0..560_000).map(|i| format!("K{i:07}")).collect();
    let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["collectionitem.*"], "collections": collections});
    let len = body.to_string().len();
    assert!(
        len > 6_000_000 && len <= folio::http::MAX_BODY_BYTES,
        "{len}"
    );
    let r = t.request("PUT", "/v2/webhooks/big/", Some(body)).await;
    assert_small_400(&r, 1);
    assert!(r.body["errors"]["collections"][0]
        .as_str()
        .unwrap()
        .contains("50"));
    assert_eq!(
        t.request("GET", "/v2/webhooks/big/", None).await.status,
        404
    );
}

#[tokio::test]
async fn an_item_of_many_unknown_fields_is_a_small_400_and_nothing_written() {
    let t = app().await;
    let n = 280_000;
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), json!("Ada"));
    for i in 0..n {
        fields.insert(format!("u{i:07}"), json!(0));
    }
    let body = json!({"key": "people", "fields": [fields]});
    assert!(body.to_string().len() > 3_400_000);
    let r = t.request("POST", "/v2/content/", Some(body)).await;
    assert_small_400(&r, 1);
    let message = r.body["errors"]["fields"][0].as_str().unwrap();
    assert!(message.contains(&(n + 1).to_string()), "{message}");
    // Fewer than a collection can have: each unknown one is named.
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), json!("Ada"));
    for i in 0..99 {
        fields.insert(format!("u{i:07}"), json!(0));
    }
    let body = json!({"key": "people", "fields": [fields]});
    let r = t.request("POST", "/v2/content/", Some(body)).await;
    assert_small_400(&r, 99);
    assert_eq!(r.body["errors"]["u0000000"][0], "Unknown field.");
    let list = t
        .request("GET", "/v2/content/people/?preview=1", None)
        .await;
    assert_eq!(list.body["meta"]["count"], 0, "{:?}", list.body);
}
