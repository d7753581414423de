//! Tokens, scopes and organizations (docs/design.md §6), and collection schemas.

use aws_sdk_dynamodb::types::AttributeValue;
use folio::auth::{Operation, Scope, TokenRecord};
use folio::ids::CollectionKey;
use folio_tests::{folio, team_members_schema, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn missing_and_unknown_tokens_are_401_with_the_exact_detail() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("create-item-no-auth.json", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"detail": "Authentication credentials were not provided"})
    );
    let r = t.invoke_file("create-item-bad-token.json", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"detail": "Invalid token"}));
    let r = t
        .request_as(
            "GET",
            "/v2/collections/",
            None,
            None,
            &[("Authorization", "Bearer abc")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.detail(), "Invalid token");
    assert!(t.drain_events().await.is_empty());
}

#[tokio::test]
async fn both_header_styles_work_and_the_query_token_only_for_reads() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let path = format!("/v2/content/team_members/{id}/");
    let flotiq = t
        .request_as("GET", &path, None, None, &[("X-AUTH-TOKEN", &t.token)])
        .await;
    assert_eq!(flotiq.status, 200);
    let r = t
        .invoke_file(
            "get-item-query-token.json",
            &[("01JF0000000000000000000000", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let write = t
        .request_as(
            "DELETE",
            &format!("{path}?auth_token={}", t.token),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(
        write.status, 401,
        "a token in the URL must not authorize writes"
    );
    let flotiq_write = t
        .request_as("DELETE", &path, None, None, &[("X-AUTH-TOKEN", &t.token)])
        .await;
    assert_eq!(flotiq_write.status, 204);
}

#[tokio::test]
async fn revoked_tokens_are_refused() {
    let t = TestApp::spawn().await;
    let token = t.mint(&t.org, &[Scope::Read]).await;
    t.app
        .store
        .revoke_token(&folio::auth::Token::parse(&token).unwrap().hash())
        .await
        .unwrap();
    let r = t
        .request_as("GET", "/v2/collections/", None, Some(&token), &[])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.detail(), "Invalid token");
}

#[tokio::test]
async fn scopes_are_enforced_with_a_403_naming_the_scope() {
    let t = TestApp::spawn().await;
    let read = t.mint(&t.org, &[Scope::Read]).await;
    let write = t.mint(&t.org, &[Scope::Write]).await;
    let body = json!({"key": "team_members", "fields": [{"en": {"name": "Ada"}}]}).to_string();
    let r = t
        .request_as("POST", "/v2/content/", Some(body.clone()), Some(&read), &[])
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("\"write\""), "{}", r.detail());
    let r = t
        .request_as("POST", "/v2/content/", Some(body), Some(&write), &[])
        .await;
    assert_eq!(r.status, 202);
    let r = t
        .request_as("GET", "/v2/content/team_members/", None, Some(&write), &[])
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("\"read\""));
    let r = t
        .request_as(
            "PUT",
            "/v2/collections/team_members/",
            Some(team_members_schema().to_string()),
            Some(&write),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("\"admin\""));
    let r = t
        .request_as(
            "GET",
            "/v2/content/team_members/deleted/",
            None,
            Some(&read),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn scoped_keys_are_limited_to_their_collections_and_operations() {
    let t = TestApp::spawn().await;
    assert_eq!(
        t.put_collection(
            "posts",
            json!({"name": "Posts", "fields": [{"key": "title", "type": "text"}]})
        )
        .await
        .status,
        201
    );
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let scoped = t
        .mint_record(TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read, Scope::Write],
            collections: Some(vec![CollectionKey::parse("team_members").unwrap()]),
            operations: Some(vec![Operation::Read, Operation::Create]),
            revoked: false,
            name: Some("scoped".into()),
            created_at: folio::clock::now(),
        })
        .await;
    let r = t
        .request_as("GET", "/v2/content/posts/", None, Some(&scoped), &[])
        .await;
    assert_eq!(r.status, 403);
    let r = t
        .request_as("GET", "/v2/content/team_members/", None, Some(&scoped), &[])
        .await;
    assert_eq!(r.status, 200);
    let r = t
        .request_as(
            "DELETE",
            &format!("/v2/content/team_members/{id}/"),
            None,
            Some(&scoped),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("delete"));
    let body = json!({"key": "posts", "fields": [{"title": "x"}]}).to_string();
    let r = t
        .request_as("POST", "/v2/content/", Some(body), Some(&scoped), &[])
        .await;
    assert_eq!(r.status, 403);
    let list = t
        .request_as("GET", "/v2/collections/", None, Some(&scoped), &[])
        .await;
    let keys: Vec<_> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("team_members")]);
}

#[tokio::test]
async fn another_organizations_content_is_404_never_403() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let other_org = t.create_org(&["en"]).await;
    let other = t.mint(&other_org, &[Scope::Admin]).await;
    for (method, path) in [
        ("GET", format!("/v2/content/team_members/{id}/")),
        ("DELETE", format!("/v2/content/team_members/{id}/")),
        ("GET", "/v2/collections/team_members/".to_owned()),
        ("GET", "/v2/content/team_members/".to_owned()),
    ] {
        let r = t.request_as(method, &path, None, Some(&other), &[]).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(r.detail(), "Not found.");
    }
    let r = t
        .request_as(
            "PATCH",
            &format!("/v2/content/team_members/{id}/"),
            Some(json!({"status": "draft"}).to_string()),
            Some(&other),
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(t
        .stored("team_members", &id)
        .await
        .unwrap()
        .deleted_at
        .is_none());
}

#[tokio::test]
async fn collections_are_defined_read_listed_and_replaced() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("put-collection.json", &[]).await;
    assert_eq!(
        r.status, 200,
        "replacing an existing collection: {:?}",
        r.body
    );
    let got = t.invoke_file("get-collection.json", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["key"], "team_members");
    assert_eq!(
        got.body["fields"][0],
        json!({"key": "name", "type": "text", "required": true, "max_length": 100})
    );
    let created_at = got.body["created_at"].clone();

    let changed = json!({"name": "People", "fields": [{"key": "name", "type": "text", "required": true}, {"key": "email", "type": "text", "pattern": "^[^@]+@[^@]+$"}]});
    let r = t.put_collection("team_members", changed.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["created_at"], created_at,
        "created_at survives a replacement"
    );
    assert_ne!(r.body["updated_at"], got.body["updated_at"]);
    // The same definition again writes nothing (a deploy tool re-sending
    // its schemas): `updated_at` stays.
    let again = t.put_collection("team_members", changed.clone()).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["updated_at"], r.body["updated_at"]);
    assert_eq!(again.body["fields"], r.body["fields"]);
    let mut described = changed;
    described["description"] = json!("Everyone");
    let r = t.put_collection("team_members", described).await;
    assert_ne!(
        r.body["updated_at"], again.body["updated_at"],
        "a change is written"
    );
    assert_eq!(r.body["description"], "Everyone");
    // The new schema applies at once in this instance.
    let bad = t
        .request(
            "POST",
            "/v2/content/",
            Some(
                json!({"key": "team_members", "fields": [{"en": {"name": "A", "email": "nope"}}]}),
            ),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["errors"]["en.email"][0]
        .as_str()
        .unwrap()
        .contains("pattern"));

    let list = t.invoke_file("list-collections.json", &[]).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["meta"]["count"], 1);
    assert_eq!(list.body["data"][0]["name"], "People");
}

#[tokio::test]
async fn invalid_schemas_are_400_with_field_errors_and_not_stored() {
    let t = TestApp::spawn().await;
    let r = t.invoke_file("put-collection-invalid.json", &[]).await;
    assert_eq!(r.status, 400);
    let errors = r.body["errors"].as_object().unwrap();
    assert!(errors.keys().any(|k| k.ends_with(".type")), "{errors:?}");
    let r = t.put_collection("links", json!({"name": "Links", "fields": [{"key": "to", "type": "reference", "collection": "nowhere"}]})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["errors"]["fields[0].collection"][0],
        "Unknown collection \"nowhere\"."
    );
    let r = t
        .put_collection(
            "links",
            json!({"name": "Links", "fields": [], "colour": "red"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        t.request("GET", "/v2/collections/links/", None)
            .await
            .status,
        404
    );
    let r = t
        .put_collection("Bad-Key", json!({"name": "x", "fields": []}))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn every_field_type_validates_its_values() {
    let t = TestApp::spawn_with(&[]).await;
    let schema = json!({"name": "All", "fields": [
        {"key": "t", "type": "text", "min_length": 2, "pattern": "^[a-z]+$"},
        {"key": "lt", "type": "long_text", "max_length": 3},
        {"key": "h", "type": "html"},
        {"key": "n", "type": "number", "min": 1, "max": 5},
        {"key": "b", "type": "boolean"},
        {"key": "d", "type": "date"},
        {"key": "dt", "type": "datetime"},
        {"key": "dd", "type": "dropdown", "options": ["a", "b"]},
        {"key": "m", "type": "media"},
        {"key": "p", "type": "page_reference", "many": true}
    ]});
    assert_eq!(t.put_collection("all_types", schema).await.status, 201);
    let good = json!({"t": "ab", "lt": "abc", "h": "<p>x</p>", "n": 5, "b": false, "d": "2024-02-29", "dt": "2024-02-29T10:00:00+01:00", "dd": "b", "m": "https://example.com/a.png", "p": ["about", "contact"]});
    let id = t.create("all_types", "published", good.clone()).await;
    let got = t
        .request("GET", &format!("/v2/content/all_types/{id}/"), None)
        .await;
    for k in ["t", "lt", "h", "n", "b", "d", "dt", "dd", "m", "p"] {
        assert_eq!(got.body[k], good[k], "{k}");
    }
    let bad = json!({"t": "A", "lt": "abcd", "h": 1, "n": 6, "b": "yes", "d": "2023-02-29", "dt": "yesterday", "dd": "c", "m": "file:///etc/passwd", "p": "about"});
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "all_types", "fields": [bad]})),
        )
        .await;
    assert_eq!(r.status, 400);
    let errors = r.body["errors"].as_object().unwrap();
    for k in ["t", "lt", "h", "n", "b", "d", "dt", "dd", "m", "p"] {
        assert!(errors.contains_key(k), "{k} should be refused: {errors:?}");
    }
}

#[tokio::test]
async fn a_collection_is_deleted_only_when_no_live_item_or_other_schema_needs_it() {
    let t = TestApp::spawn().await;
    let posts = json!({"name": "Posts", "fields": [
        {"key": "title", "type": "text"},
        {"key": "author", "type": "reference", "collection": "team_members"}
    ]});
    assert_eq!(t.put_collection("posts", posts).await.status, 201);
    let path = "/v2/collections/team_members/";

    let r = t.request("DELETE", path, None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.detail().contains("\"author\"") && r.detail().contains("\"posts\""));

    let posts = json!({"name": "Posts", "fields": [{"key": "title", "type": "text"}]});
    assert_eq!(t.put_collection("posts", posts).await.status, 200);
    let id = t
        .create("team_members", "draft", json!({"en": {"name": "Ada"}}))
        .await;
    let r = t.request("DELETE", path, None).await;
    assert_eq!(r.status, 409, "a draft is a live item: {:?}", r.body);
    assert_eq!(
        r.detail(),
        "This collection still has items; delete them first."
    );

    // Only admins, no body, and the slash rule as everywhere.
    let writer = t.mint(&t.org, &[Scope::Write]).await;
    let r = t.request_as("DELETE", path, None, Some(&writer), &[]).await;
    assert_eq!(r.status, 403);
    let r = t
        .request_as("DELETE", path, Some("{}".into()), Some(&t.token), &[])
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .request("DELETE", "/v2/collections/team_members", None)
        .await;
    assert_eq!(r.status, 308);

    let item = format!("/v2/content/team_members/{id}/");
    assert_eq!(t.request("DELETE", &item, None).await.status, 204);
    let r = t.request("DELETE", path, None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(t.request("GET", path, None).await.status, 404);
    assert_eq!(t.request("DELETE", path, None).await.status, 404);
    let list = t.request("GET", "/v2/collections/", None).await;
    assert_eq!(list.body["meta"]["count"], 1, "{:?}", list.body);
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "team_members", "fields": [{"en": {"name": "Bo"}}]})),
        )
        .await;
    assert_eq!(r.status, 404);
    let restore = format!("{item}restore/");
    assert_eq!(t.request("POST", &restore, None).await.status, 404);

    // The deleted item waits in the trash for a collection with its key.
    assert_eq!(
        t.put_collection("team_members", team_members_schema())
            .await
            .status,
        201
    );
    let r = t.request("POST", &restore, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let back = t.request("GET", &format!("{item}?preview=1"), None).await;
    assert_eq!(back.body["name"], "Ada", "{:?}", back.body);
}

/// docs/api.md's rules for changing a schema over stored items.
#[tokio::test]
async fn schema_changes_apply_to_the_next_write_and_never_rewrite_stored_items() {
    let t = TestApp::spawn_with(&[]).await;
    let v1 = json!({"name": "Notes", "fields": [
        {"key": "title", "type": "text", "max_length": 50},
        {"key": "body", "type": "text"},
        {"key": "score", "type": "text"}
    ]});
    assert_eq!(t.put_collection("notes", v1).await.status, 201);
    let id = t
        .create(
            "notes",
            "published",
            json!({"title": "A fairly long title", "body": "kept", "score": "high"}),
        )
        .await;
    let item = format!("/v2/content/notes/{id}/");

    // Add a required field, drop `body`, tighten `title`, retype `score`.
    let v2 = json!({"name": "Notes", "fields": [
        {"key": "title", "type": "text", "max_length": 5},
        {"key": "score", "type": "number"},
        {"key": "tag", "type": "text", "required": true}
    ]});
    assert_eq!(t.put_collection("notes", v2).await.status, 200);
    let r = t.request("GET", &item, None).await;
    assert_eq!(r.body["meta"]["version"], 1, "nothing was rewritten");
    assert_eq!(r.body["title"], "A fairly long title", "shown as stored");
    assert_eq!(r.body["score"], "high", "shown as stored");
    assert_eq!(r.body["tag"], Value::Null, "a new field reads null");
    assert!(r.body.get("body").is_none(), "a removed field is hidden");
    let filtered = t
        .request("GET", "/v2/content/notes/?fields.body=kept", None)
        .await;
    assert_eq!(filtered.status, 400, "{:?}", filtered.body);

    // A PATCH checks only what it sends; a PUT checks the whole item.
    let r = t
        .request("PATCH", &item, Some(json!({"fields": {"tag": "x"}})))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let r = t
        .request(
            "PUT",
            &item,
            Some(json!({"fields": {"title": "A fairly long title", "score": "high", "tag": "x"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["title"].is_array() && r.body["errors"]["score"].is_array());
    let r = t
        .request("PUT", &item, Some(json!({"fields": {"title": "Short"}})))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["tag"].is_array(), "{:?}", r.body);

    // The removed field's value is still stored: define it again and it shows.
    let v3 = json!({"name": "Notes", "fields": [
        {"key": "title", "type": "text"},
        {"key": "body", "type": "text"},
        {"key": "score", "type": "text"},
        {"key": "tag", "type": "text"}
    ]});
    assert_eq!(t.put_collection("notes", v3).await.status, 200);
    let r = t.request("GET", &item, None).await;
    assert_eq!(
        (r.body["body"].clone(), r.body["tag"].clone()),
        (json!("kept"), json!("x"))
    );
}

/// An item's create commits its count with it, while the `live` index
/// shows it only later (index reads are eventually consistent; DynamoDB
/// Local's are not, so a count shard written alone stands in for that
/// moment): the delete reads the counts, and refuses.
#[tokio::test]
async fn a_collection_whose_new_item_no_index_shows_yet_is_not_deleted() {
    use folio::store::keys;
    let t = TestApp::spawn().await;
    let key = CollectionKey::parse("team_members").unwrap();
    let mut shard = keys::count_shard(&t.org, &key, 0);
    shard.insert("n_live".into(), AttributeValue::N("1".into()));
    shard.insert("n_pub".into(), AttributeValue::N("0".into()));
    t.app
        .store
        .client()
        .put_item()
        .table_name(&t.table)
        .set_item(Some(shard))
        .send()
        .await
        .unwrap();
    let path = "/v2/collections/team_members/";
    let r = t.request("DELETE", path, None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(
        r.detail(),
        "This collection still has items; delete them first."
    );
    assert_eq!(t.request("GET", path, None).await.status, 200);

    // An item created and at once the collection's delete: refused too.
    let r = t
        .put_collection(
            "notes",
            json!({"name": "Notes", "fields": [{"key": "t", "type": "text"}]}),
        )
        .await;
    assert_eq!(r.status, 201);
    t.create("notes", "draft", json!({"en": {"t": "x"}})).await;
    let r = t.request("DELETE", "/v2/collections/notes/", None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}
