//! ButterCMS's read of one or more collections, `GET /v2/content/?keys=…`:
//! the shape its clients parse, and the links that `levels` renders and
//! webhook payloads carry resolving through it.

use folio::auth::{Operation, Scope, TokenRecord};
use folio::ids::CollectionKey;
use folio_tests::{folio, TestApp};
use serde_json::json;

async fn with_posts(t: &TestApp) -> (Vec<String>, String) {
    let r = t
        .put_collection(
            "posts",
            json!({"name": "Posts", "fields": [
                {"key": "title", "type": "text", "required": true},
                {"key": "author", "type": "reference", "collection": "team_members"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut people = Vec::new();
    for name in ["Ada", "Grace", "Susan"] {
        people.push(
            t.create("team_members", "published", json!({"en": {"name": name}}))
                .await,
        );
    }
    let post = t
        .create(
            "posts",
            "published",
            json!({"en": {"title": "Hello", "author": people[0]}}),
        )
        .await;
    (people, post)
}

#[tokio::test]
async fn one_key_reads_as_the_collection_list_and_several_as_one_object() {
    let t = TestApp::spawn().await;
    let (people, post) = with_posts(&t).await;

    let list = t
        .request(
            "GET",
            "/v2/content/team_members/?page_size=2&order=-created_at",
            None,
        )
        .await;
    let keys = t
        .request(
            "GET",
            "/v2/content/?keys=team_members&page_size=2&order=-created_at",
            None,
        )
        .await;
    assert_eq!(keys.status, 200, "{:?}", keys.body);
    assert_eq!(
        keys.body, list.body,
        "one key: exactly the list, meta included"
    );
    assert_eq!(keys.body["meta"]["count"], 3);

    let both = t
        .request(
            "GET",
            "/v2/content/?keys=team_members,posts&page_size=2&levels=1",
            None,
        )
        .await;
    assert_eq!(both.status, 200, "{:?}", both.body);
    assert_eq!(
        both.body["data"]["team_members"].as_array().unwrap().len(),
        2
    );
    assert_eq!(both.body["data"]["posts"][0]["meta"]["id"], json!(post));
    assert!(both.body.get("meta").is_none(), "several keys: data only");

    // One item, and the link `levels` renders for a reference, resolve here.
    let link = both.body["data"]["posts"][0]["author"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        link,
        format!("/v2/content/?keys=team_members[_id={}]", people[0])
    );
    let one = t.request("GET", &link, None).await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    assert_eq!(
        one.body["data"]["team_members"][0]["meta"]["id"],
        json!(people[0])
    );
    assert_eq!(one.body["data"]["team_members"][0]["name"], "Ada");
    // A webhook payload's `itemid` is the same link.
    let event = folio::event::Event::new(
        &t.org,
        &CollectionKey::parse("team_members").unwrap(),
        folio::ids::ItemId::parse(&people[1]).unwrap(),
        1,
        folio::event::EventType::Published,
    );
    let itemid = folio::webhooks::payload(&event, "https://x/")["data"]["itemid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t.request("GET", &itemid, None).await;
    assert_eq!(r.body["data"]["team_members"][0]["name"], "Grace");

    // A deleted item is not shown.
    let gone = &people[2];
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/team_members/{gone}/"), None)
            .await
            .status,
        204
    );
    let r = t
        .request(
            "GET",
            &format!("/v2/content/?keys=team_members[_id={gone}]"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["team_members"], json!([]));
}

#[tokio::test]
async fn bad_keys_are_a_400_and_limits_and_tenancy_hold() {
    let t = TestApp::spawn().await;
    with_posts(&t).await;
    for q in [
        "",
        "?keys=",
        "?keys=Bad%20Key",
        "?keys=team_members[name=Ada]",
        "?keys=team_members[_id=nope]",
        "?keys=team_members,team_members",
        "?keys=a,b,c,d,e,f,g,h,i,j,k",
        "?keys=team_members&page_size=0",
    ] {
        let r = t.request("GET", &format!("/v2/content/{q}"), None).await;
        assert_eq!(r.status, 400, "{q}: {:?}", r.body);
        assert!(r.body["detail"].is_string(), "{q}");
    }
    let r = t
        .request("GET", "/v2/content/?keys=nothing_here", None)
        .await;
    assert_eq!(r.status, 404);
    // A token limited to team_members may not read posts this way either.
    let limited = t
        .mint_record(TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read],
            collections: Some(vec![CollectionKey::parse("team_members").unwrap()]),
            operations: Some(vec![Operation::Read]),
            revoked: false,
            name: None,
            created_at: folio::clock::now(),
        })
        .await;
    let r = t
        .request_as(
            "GET",
            "/v2/content/?keys=team_members,posts",
            None,
            Some(&limited),
            &[],
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let r = t
        .request_as(
            "GET",
            &format!("/v2/content/?keys=team_members&auth_token={limited}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "a read takes the token in the query");
}

/// ButterCMS's JavaScript client (npm `buttercms` 3) asks for
/// `/v2/content/<keys>/`: the same read with the keys in the path.
#[tokio::test]
async fn keys_in_the_path_read_as_the_keys_parameter() {
    let t = TestApp::spawn().await;
    let (people, _post) = with_posts(&t).await;
    for (path, query) in [
        (
            "/v2/content/team_members,posts/?levels=1&page_size=2".to_owned(),
            "/v2/content/?keys=team_members,posts&levels=1&page_size=2".to_owned(),
        ),
        (
            format!("/v2/content/team_members[_id={}]/", people[1]),
            format!("/v2/content/?keys=team_members[_id={}]", people[1]),
        ),
        (
            format!("/v2/content/team_members%5B_id={}%5D/", people[2]),
            format!("/v2/content/?keys=team_members[_id={}]", people[2]),
        ),
    ] {
        let by_path = t.request("GET", &path, None).await;
        let by_query = t.request("GET", &query, None).await;
        assert_eq!(by_path.status, 200, "{path}: {:?}", by_path.body);
        assert_eq!(by_path.body, by_query.body, "{path}");
        assert!(by_path.body["data"]["team_members"].is_array());
    }
    let both = t
        .request("GET", "/v2/content/team_members,posts/", None)
        .await;
    assert_eq!(both.body["data"]["posts"][0]["title"], "Hello");
    // The same checks as the parameter: a bad key is a 400 naming it.
    let r = t
        .request("GET", "/v2/content/team_members,Bad/", None)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["keys"].is_array(), "{:?}", r.body);
}

/// `memory_list_max` bounds a request: each of two lists ordered in memory
/// fits alone, but one `keys` read of both would sort more, so it is a
/// 400 saying what to do, not ten times the limit's work.
#[tokio::test]
async fn lists_of_one_keys_read_share_one_in_memory_budget() {
    let t = TestApp::spawn_with(&[]).await;
    for key in ["notes", "memos"] {
        let schema = json!({"name": key, "fields": [{"key": "title", "type": "text"}]});
        assert_eq!(t.put_collection(key, schema).await.status, 201);
        for title in ["b", "a"] {
            t.create(key, "published", json!({"title": title})).await;
        }
    }
    let small = folio::app::App::new(
        &t.sdk,
        folio::app::Config {
            memory_list_max: 3,
            ..folio_tests::test_config(&t.table)
        },
    );
    for key in ["notes", "memos"] {
        let r = t
            .on(
                &small,
                "GET",
                &format!("/v2/content/?keys={key}&order=title"),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{key}: {:?}", r.body);
        assert_eq!(r.body["data"][key][0]["title"], "a");
    }
    let r = t
        .on(
            &small,
            "GET",
            "/v2/content/?keys=notes,memos&order=title",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let said = r.body["errors"]["keys"][0].as_str().unwrap_or_default();
    assert!(
        said.contains("more than 3 items") && said.contains("name fewer collections"),
        "{:?}",
        r.body
    );
    // Lists DynamoDB serves in their order cost no memory.
    let r = t
        .on(&small, "GET", "/v2/content/?keys=notes,memos", None, &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// The read of one item by `keys` is tagged as the item's own read is, so
/// its tag names the version to a write.
#[tokio::test]
async fn a_keys_read_of_one_item_tags_its_version_for_if_match() {
    let t = TestApp::spawn().await;
    let id = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let one = format!("/v2/content/?keys=team_members[_id={id}]");
    let r = t.request("GET", &one, None).await;
    let tag = r.header("etag").unwrap().to_owned();
    assert!(tag.starts_with("\"1-"), "{tag}");
    let revalidate = |tag: String| {
        let (t, one) = (&t, &one);
        async move {
            let held = [("If-None-Match", tag.as_str())];
            t.request_as("GET", one, None, Some(&t.token), &held).await
        }
    };
    let r = revalidate(tag.clone()).await;
    assert_eq!(r.status, 304);
    let r = t
        .request_as(
            "PATCH",
            &format!("/v2/content/team_members/{id}/"),
            Some(json!({"fields": {"en": {"name": "Ada L."}}}).to_string()),
            Some(&t.token),
            &[("If-Match", &tag)],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let r = revalidate(tag.clone()).await;
    assert_eq!(r.status, 200);
    assert!(r.header("etag").unwrap().starts_with("\"2-"));
}
