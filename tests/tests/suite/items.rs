//! Create, read, replace, patch and delete of items over real API Gateway
//! events, against DynamoDB Local and moto.

use folio::event::EventType;
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn created_item_is_readable_at_once_and_leaves_one_event() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("create-item.json", &[]).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    let id = r.body["items"][0]["meta"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.body["items"][0]["meta"]["version"], 1);

    let got = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["name"], "Ada Lovelace");
    assert_eq!(got.body["role"], "engineer");
    assert_eq!(got.body["age"], 36);
    assert_eq!(got.body["bio"], json!(null));
    assert_eq!(got.body["meta"]["status"], "published");
    assert_eq!(got.header("etag"), Some("\"1\""));

    let events = t.drain_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].item_id.to_string(), id);
    assert_eq!(events[0].kind, EventType::Published);
    assert_eq!(events[0].version, 1);
    assert_eq!(events[0].org, t.org);
}

#[tokio::test]
async fn create_by_path_defaults_to_draft_which_only_preview_shows() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("create-item-by-path.json", &[]).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.body["items"][0]["meta"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hidden = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(hidden.status, 404);
    let shown = t
        .request(
            "GET",
            &format!("/v2/content/team_members/{id}/?preview=1"),
            None,
        )
        .await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["meta"]["status"], "draft");
    let list = t.request("GET", "/v2/content/team_members/", None).await;
    assert_eq!(list.body["meta"]["count"], 0);
    let list = t
        .request("GET", "/v2/content/team_members/?preview=1", None)
        .await;
    assert_eq!(list.body["meta"]["count"], 1);
    assert_eq!(t.drain_events().await[0].kind, EventType::Draft);
}

#[tokio::test]
async fn a_batch_create_is_all_or_nothing() {
    let t = TestApp::spawn().await;
    let ok = t.invoke_file("create-items-batch.json", &[]).await;
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    assert_eq!(ok.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(t.drain_events().await.len(), 3);

    let body = json!({"key": "team_members", "status": "published", "fields": [
        {"en": {"name": "Good"}},
        {"en": {"name": "Bad", "age": -1}}
    ]});
    let bad = t.request("POST", "/v2/content/", Some(body)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["errors"]["fields[1].en.age"][0],
        "Ensure this value is greater than or equal to 0."
    );
    let list = t
        .request("GET", "/v2/content/team_members/?page_size=100", None)
        .await;
    assert_eq!(
        list.body["meta"]["count"], 3,
        "the good half must not be written"
    );
    assert!(t.drain_events().await.is_empty());
}

#[tokio::test]
async fn create_limits_items_per_request() {
    let t = TestApp::spawn().await;
    let many: Vec<_> = (0..26)
        .map(|i| json!({"en": {"name": format!("n{i}")}}))
        .collect();
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "team_members", "fields": many})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["fields"].is_array());
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "team_members", "fields": []})),
        )
        .await;
    assert_eq!(r.status, 400);
    let full: Vec<_> = (0..25)
        .map(|i| json!({"en": {"name": format!("n{i}")}}))
        .collect();
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "team_members", "fields": full})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(t.drain_events().await.len(), 25);
}

#[tokio::test]
async fn validation_names_every_bad_field_and_writes_nothing() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("create-item-invalid.json", &[]).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["detail"], "Validation failed");
    assert_eq!(r.body["errors"]["en.name"][0], "This field is required.");
    assert_eq!(r.body["errors"]["en.age"][0], "A valid number is required.");
    assert_eq!(r.body["errors"]["en.colour"][0], "Unknown field.");
    let list = t
        .request("GET", "/v2/content/team_members/?preview=1", None)
        .await;
    assert_eq!(list.body["meta"]["count"], 0);
    assert!(t.drain_events().await.is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_a_clear_400() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("create-item-malformed.json", &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.detail().starts_with("JSON parse error"), "{}", r.detail());

    for (body, want) in [
        (
            r#"{"key":"team_members","fields":{"en":{"name":"x"}}}"#,
            "Invalid request body",
        ),
        (
            r#"{"key":"team_members","fields":[{"en":{"name":"x"}}],"extra":1}"#,
            "Invalid request body",
        ),
        (
            r#"{"key":"team_members","status":"live","fields":[{"en":{"name":"x"}}]}"#,
            "Invalid request body",
        ),
        (r#"[1,2,3]"#, "Invalid request body"),
        ("", "A JSON request body is required."),
    ] {
        let r = t
            .request_as(
                "POST",
                "/v2/content/",
                Some(body.into()),
                Some(&t.token),
                &[],
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(r.detail().starts_with(want), "{body}: {}", r.detail());
    }
    // Invalid UTF-8 arrives base64-encoded.
    let mut event: serde_json::Value = serde_json::from_str(&folio_tests::api_event(
        "POST",
        "/v2/content/",
        None,
        Some(&t.token),
        &[],
    ))
    .unwrap();
    event["body"] = json!("/w==");
    event["isBase64Encoded"] = json!(true);
    let r = t.invoke(&event.to_string()).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(t.drain_events().await.is_empty());
}

#[tokio::test]
async fn unknown_collections_and_odd_ids_are_404() {
    let t = TestApp::spawn().await;
    let r = t
        .invoke_file("create-item-unknown-collection.json", &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"detail": "Not found."}));
    for path in [
        "/v2/content/team_members/not-an-id/",
        "/v2/content/team_members/01JF0000000000000000000000/",
        "/v2/content/Team%20Members/01JF0000000000000000000000/",
        "/v2/content/no_such/",
    ] {
        let r = t.request("GET", path, None).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.detail(), "Not found.");
    }
}

#[tokio::test]
async fn put_replaces_every_field_and_clears_the_omitted_ones() {
    let t = TestApp::spawn().await;
    let id = t
        .create(
            "team_members",
            "published",
            json!({"en": {"name": "Ada", "bio": "b", "age": 36}}),
        )
        .await;
    t.drain_events().await;
    let r = t
        .invoke_file(
            "replace-item.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "pending", "meta": {"id": id, "version": 2}})
    );
    assert_eq!(r.header("etag"), Some("\"2\""));
    let got = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(got.body["name"], "Ada King");
    assert_eq!(
        got.body["bio"],
        json!(null),
        "omitted optional fields are cleared"
    );
    assert_eq!(got.body["age"], json!(null));
    assert_eq!(got.body["meta"]["version"], 2);

    let missing = t
        .request(
            "PUT",
            &format!("/v2/content/team_members/{id}/"),
            Some(json!({"fields": {"en": {"bio": "x"}}})),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body["errors"]["en.name"][0],
        "This field is required."
    );
    let events = t.drain_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].version, events[0].kind),
        (2, EventType::Published)
    );
}

#[tokio::test]
async fn patch_changes_only_what_it_sends() {
    let t = TestApp::spawn().await;
    let id = t
        .create(
            "team_members",
            "published",
            json!({"en": {"name": "Ada", "age": 36}, "es": {"name": "Ada ES"}}),
        )
        .await;
    t.drain_events().await;
    let r = t
        .invoke_file(
            "patch-item.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let got = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(got.body["bio"], "Wrote the first program.");
    assert_eq!(got.body["name"], "Ada");
    assert_eq!(got.body["age"], 36);
    assert_eq!(got.body["meta"]["status"], "published");
    let es = t
        .request(
            "GET",
            &format!("/v2/content/team_members/{id}/?locale=es"),
            None,
        )
        .await;
    assert_eq!(es.body["name"], "Ada ES");

    // Status alone: a draft over the live item (it stays live), then an
    // explicit unpublish, each its own event type.
    let r = t
        .invoke_file(
            "patch-item-status.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["meta"]["version"], 3);
    let item = format!("/v2/content/team_members/{id}/");
    let live = t.request("GET", &item, None).await;
    assert_eq!(live.status, 200, "a draft does not unpublish");
    assert_eq!(live.body["meta"]["status"], "published_with_draft");
    assert_eq!(
        (
            &live.body["meta"]["version"],
            &live.body["meta"]["draft_version"]
        ),
        (&json!(2), &json!(3))
    );
    let r = t
        .invoke_file(
            "unpublish-item.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["meta"]["version"], 4);
    assert_eq!(t.request("GET", &item, None).await.status, 404);
    let kinds: Vec<_> = t
        .drain_events()
        .await
        .into_iter()
        .map(|e| (e.version, e.kind))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        kinds,
        vec![
            (2, EventType::Published),
            (3, EventType::Draft),
            (4, EventType::Unpublished)
        ]
    );

    let empty = t
        .invoke_file(
            "patch-item-empty.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(empty.status, 400);
    let clear_required = t
        .request(
            "PATCH",
            &format!("/v2/content/team_members/{id}/"),
            Some(json!({"fields": {"en": {"name": null}}})),
        )
        .await;
    assert_eq!(clear_required.status, 400);
    let clear_optional = t
        .request(
            "PATCH",
            &format!("/v2/content/team_members/{id}/"),
            Some(json!({"fields": {"en": {"age": null}}})),
        )
        .await;
    assert_eq!(clear_optional.status, 202);
    let got = t
        .request(
            "GET",
            &format!("/v2/content/team_members/{id}/?preview=1"),
            None,
        )
        .await;
    assert_eq!(got.body["age"], json!(null));
    assert_eq!(got.body["name"], "Ada");
}

#[tokio::test]
async fn if_match_guards_put_and_patch() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let path = format!("/v2/content/team_members/{id}/");
    let body = json!({"fields": {"en": {"bio": "x"}}}).to_string();
    let ok = t
        .request_as(
            "PATCH",
            &path,
            Some(body.clone()),
            Some(&t.token),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, 202);
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
    let r = t
        .invoke_file(
            "replace-item-if-match.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 412);
    let bad = t
        .request_as(
            "PATCH",
            &path,
            Some(body),
            Some(&t.token),
            &[("If-Match", "soon")],
        )
        .await;
    assert_eq!(bad.status, 400);
    let got = t.request("GET", &path, None).await;
    assert_eq!(got.body["meta"]["version"], 2);
}

#[tokio::test]
async fn writes_to_missing_or_deleted_items_are_404() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let path = format!("/v2/content/team_members/{id}/");
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
    let patch = t
        .request("PATCH", &path, Some(json!({"status": "draft"})))
        .await;
    assert_eq!(patch.status, 404);
    let put = t
        .request("PUT", &path, Some(json!({"fields": {"en": {"name": "B"}}})))
        .await;
    assert_eq!(put.status, 404);
    let other = folio::ids::ItemId::new();
    let put = t
        .request(
            "PUT",
            &format!("/v2/content/team_members/{other}/"),
            Some(json!({"fields": {"en": {"name": "B"}}})),
        )
        .await;
    assert_eq!(put.status, 404);
    assert!(
        t.stored("team_members", &other.to_string()).await.is_none(),
        "a PUT must never create an item"
    );
}

#[tokio::test]
async fn deleted_items_vanish_from_get_list_and_filters_but_keep_their_data() {
    let t = TestApp::spawn().await;
    let a = t
        .create(
            "team_members",
            "published",
            json!({"en": {"name": "Ada", "role": "engineer"}}),
        )
        .await;
    let b = t
        .create(
            "team_members",
            "published",
            json!({"en": {"name": "Bob", "role": "engineer"}}),
        )
        .await;
    t.drain_events().await;
    let r = t
        .invoke_file(
            "delete-item.json",
            &[("01JF0000000000000000000000", a.as_str())],
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(r.body, serde_json::Value::Null);

    assert_eq!(
        t.request(
            "GET",
            &format!("/v2/content/team_members/{a}/?preview=1"),
            None
        )
        .await
        .status,
        404
    );
    for q in [
        "",
        "?preview=1",
        "?fields.role=engineer",
        "?fields.name=Ada&preview=1",
    ] {
        let list = t
            .request("GET", &format!("/v2/content/team_members/{q}"), None)
            .await;
        let ids: Vec<_> = list.body["data"]["team_members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["meta"]["id"].clone())
            .collect();
        assert!(!ids.contains(&json!(a)), "{q}: {ids:?}");
    }
    let list = t
        .request(
            "GET",
            "/v2/content/team_members/?fields.role=engineer",
            None,
        )
        .await;
    assert_eq!(list.body["data"]["team_members"][0]["meta"]["id"], json!(b));

    let stored = t.stored("team_members", &a).await.unwrap();
    assert!(stored.deleted_at.is_some());
    assert_eq!(
        stored.fields["en.name"], "Ada",
        "soft delete keeps the data"
    );

    let again = t
        .request("DELETE", &format!("/v2/content/team_members/{a}/"), None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.body, json!({"detail": "Not found."}));
    let events = t.drain_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind, events[0].version), (EventType::Delete, 2));
}

#[tokio::test]
async fn delete_refuses_a_body_and_unknown_items() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let r = t
        .invoke_file(
            "delete-item-with-body.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(t
        .stored("team_members", &id)
        .await
        .unwrap()
        .deleted_at
        .is_none());
    let r = t.invoke_file("delete-item-missing.json", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.detail(), "Not found.");
}

#[tokio::test]
async fn paths_without_the_trailing_slash_redirect() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("delete-item-no-slash.json", &[]).await;
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some("/v2/content/team_members/01JF0000000000000000000000/")
    );
    assert!(r.detail().contains("slash"));
    let r = t
        .request("GET", "/v2/content/team_members?page=2", None)
        .await;
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some("/v2/content/team_members/?page=2")
    );
    let r = t.invoke_file("put-collection-no-slash.json", &[]).await;
    assert_eq!(r.status, 308);
}

#[tokio::test]
async fn locales_round_trip_with_default_fallback() {
    let t = TestApp::spawn().await;
    let id = t
        .create(
            "team_members",
            "published",
            json!({"en": {"name": "Engineer", "bio": "English bio"}, "es": {"name": "Ingeniera"}}),
        )
        .await;
    let en = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(
        (en.body["name"].as_str(), en.body["bio"].as_str()),
        (Some("Engineer"), Some("English bio"))
    );
    let es = t
        .request(
            "GET",
            &format!("/v2/content/team_members/{id}/?locale=es"),
            None,
        )
        .await;
    assert_eq!(es.body["name"], "Ingeniera");
    assert_eq!(
        es.body["bio"], "English bio",
        "missing translations fall back to the default locale"
    );
    let fr = t
        .request(
            "GET",
            &format!("/v2/content/team_members/{id}/?locale=fr"),
            None,
        )
        .await;
    assert_eq!(fr.status, 400);
    let list = t
        .request(
            "GET",
            "/v2/content/team_members/?locale=es&fields.name=Ingeniera",
            None,
        )
        .await;
    assert_eq!(list.body["meta"]["count"], 1);
    let no_default = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "team_members", "fields": [{"es": {"name": "Solo"}}]})),
        )
        .await;
    assert_eq!(no_default.status, 400);
    assert_eq!(
        no_default.body["errors"]["en.name"][0],
        "This field is required."
    );
}

#[tokio::test]
async fn unlocalized_orgs_take_flat_fields() {
    let t = TestApp::spawn_with(&[]).await;
    let id = t
        .create(
            "team_members",
            "published",
            json!({"name": "Ada", "age": 36}),
        )
        .await;
    let got = t
        .request("GET", &format!("/v2/content/team_members/{id}/"), None)
        .await;
    assert_eq!(got.body["name"], "Ada");
    let nested = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "team_members", "fields": [{"en": {"name": "Ada"}}]})),
        )
        .await;
    assert_eq!(nested.status, 400);
}

#[tokio::test]
async fn lists_page_order_and_filter() {
    let t = TestApp::spawn_with(&[]).await;
    let fields: Vec<_> = (0..12).map(|i| json!({"name": format!("n{i:02}"), "age": i, "role": if i % 2 == 0 {"engineer"} else {"designer"}})).collect();
    let r = t
        .request(
            "POST",
            "/v2/content/team_members/",
            Some(json!({"status": "published", "fields": fields})),
        )
        .await;
    assert_eq!(r.status, 202);
    let p1 = t.request("GET", "/v2/content/team_members/", None).await;
    let next = p1.body["meta"]["next_cursor"].as_str().expect("a cursor");
    assert_eq!(
        p1.body["meta"],
        json!({"count": 12, "next_page": 2, "previous_page": null, "next_cursor": next})
    );
    assert_eq!(
        p1.body["data"]["team_members"].as_array().unwrap().len(),
        10
    );
    let p2 = t
        .request("GET", "/v2/content/team_members/?page=2", None)
        .await;
    assert_eq!(
        p2.body["meta"],
        json!({"count": 12, "next_page": null, "previous_page": 1, "next_cursor": null})
    );
    assert_eq!(p2.body["data"]["team_members"].as_array().unwrap().len(), 2);
    // The cursor reads the same page 2, without page numbers.
    let by_cursor = t
        .request(
            "GET",
            &format!("/v2/content/team_members/?cursor={next}"),
            None,
        )
        .await;
    assert_eq!(by_cursor.body["data"], p2.body["data"]);
    assert_eq!(
        by_cursor.body["meta"],
        json!({"count": 12, "next_page": null, "previous_page": null, "next_cursor": null})
    );
    let desc = t
        .request(
            "GET",
            "/v2/content/team_members/?order=-age&page_size=3&fields.role=engineer",
            None,
        )
        .await;
    let ages: Vec<_> = desc.body["data"]["team_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["age"].as_i64().unwrap())
        .collect();
    assert_eq!(ages, vec![10, 8, 6]);
    assert_eq!(desc.body["meta"]["count"], 6);
    for bad in [
        "?page=0",
        "?page_size=101",
        "?page_size=x",
        "?order=colour",
        "?fields.colour=x",
        "?levels=9",
        "?preview=maybe",
    ] {
        let r = t
            .request("GET", &format!("/v2/content/team_members/{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn an_item_over_400_kb_is_refused_with_413_and_nothing_written() {
    let t = TestApp::spawn_with(&[]).await;
    let schema = json!({"name": "Posts", "fields": [{"key": "title", "type": "text", "required": true}, {"key": "body", "type": "html"}]});
    assert_eq!(t.put_collection("posts", schema).await.status, 201);
    let big = "x".repeat(420 * 1024);
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "posts", "fields": [{"title": "Big", "body": big}]})),
        )
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    let list = t.request("GET", "/v2/content/posts/?preview=1", None).await;
    assert_eq!(list.body["meta"]["count"], 0);

    let id = t.create("posts", "draft", json!({"title": "Small"})).await;
    let path = format!("/v2/content/posts/{id}/");
    let r = t
        .request(
            "PUT",
            &path,
            Some(json!({"fields": {"title": "Big", "body": big}})),
        )
        .await;
    assert_eq!(r.status, 413);
    // A patch that fits on its own but not with the item: DynamoDB's own check.
    let half = "y".repeat(250 * 1024);
    assert_eq!(
        t.request("PATCH", &path, Some(json!({"fields": {"body": half}})))
            .await
            .status,
        202
    );
    let r = t
        .request("PATCH", &path, Some(json!({"fields": {"title": half}})))
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    let stored = t.stored("posts", &id).await.unwrap();
    assert_eq!(stored.fields["title"], "Small");
    assert_eq!(stored.version, 2);
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_changes_and_write_once() {
    let t = TestApp::spawn().await;
    let first = t.invoke_file("create-item-idempotent.json", &[]).await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let again = t.invoke_file("create-item-idempotent.json", &[]).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body, first.body, "a retry replays the first response");
    let other = t
        .invoke_file(
            "create-item-idempotent.json",
            &[("Ada Lovelace", "Ada Byron")],
        )
        .await;
    assert_eq!(other.status, 422, "{:?}", other.body);
    let list = t
        .request("GET", "/v2/content/team_members/?preview=1", None)
        .await;
    assert_eq!(list.body["meta"]["count"], 1);
    assert_eq!(t.drain_events().await.len(), 1);
}

/// Incremental sync: what changed since a time, in the order it changed,
/// and the deletions since then from the trash, page by page.
#[tokio::test]
async fn updated_after_lists_what_changed_since_and_the_trash_pages() {
    let t = TestApp::spawn_with(&[]).await;
    let notes = json!({"name": "Notes", "fields": [{"key": "title", "type": "text"}]});
    assert_eq!(t.put_collection("notes", notes).await.status, 201);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            t.create("notes", "published", json!({"title": format!("N{i}")}))
                .await,
        );
    }
    let list = t
        .request(
            "GET",
            "/v2/content/notes/?order=-updated_at&page_size=1",
            None,
        )
        .await;
    let since = list.body["data"]["notes"][0]["meta"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let note = |id: &str| format!("/v2/content/notes/{id}/");
    let patch = json!({"fields": {"title": "changed"}});
    assert_eq!(
        t.request("PATCH", &note(&ids[3]), Some(patch.clone()))
            .await
            .status,
        202
    );
    assert_eq!(
        t.request("PATCH", &note(&ids[1]), Some(patch)).await.status,
        202
    );
    for id in [&ids[0], &ids[2], &ids[4]] {
        assert_eq!(t.request("DELETE", &note(id), None).await.status, 204);
    }

    let changed = t
        .request(
            "GET",
            &format!("/v2/content/notes/?updated_after={since}&order=updated_at"),
            None,
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let got: Vec<&str> = changed.body["data"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["meta"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [ids[3].as_str(), ids[1].as_str()],
        "changed, in order of change"
    );
    assert_eq!(changed.body["meta"]["count"], 2);
    let r = t
        .request("GET", "/v2/content/notes/?updated_after=yesterday", None)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["updated_after"].is_array());

    // The deletions since then, two to a page.
    let trash = |page: u32| {
        format!("/v2/content/notes/deleted/?deleted_after={since}&page_size=2&page={page}")
    };
    let first = t.request("GET", &trash(1), None).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["meta"]["count"], 3);
    assert_eq!(first.body["meta"]["next_page"], 2);
    assert_eq!(first.body["data"]["notes"].as_array().unwrap().len(), 2);
    let second = t.request("GET", &trash(2), None).await;
    assert_eq!(second.body["meta"]["next_page"], Value::Null);
    assert_eq!(second.body["meta"]["previous_page"], 1);
    let mut deleted: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|r| r.body["data"]["notes"].as_array().unwrap().clone())
        .map(|n| n["meta"]["id"].as_str().unwrap().to_owned())
        .collect();
    deleted.sort();
    let mut want = vec![ids[0].clone(), ids[2].clone(), ids[4].clone()];
    want.sort();
    assert_eq!(deleted, want);
    let r = t
        .request("GET", "/v2/content/notes/deleted/?page_size=101", None)
        .await;
    assert_eq!(r.status, 400);
}
