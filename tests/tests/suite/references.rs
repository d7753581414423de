//! Reference fields, the delete guard, batch delete, trash and restore
//! (docs/design.md §2–3).

use std::collections::BTreeSet;

use folio::event::EventType;
use folio_tests::{folio, TestApp};
use serde_json::{json, Value};

/// `people` (with a restrict `manager` and a detach `mentors` list) and
/// `projects` (restrict `lead`), in an unlocalized org.
pub(crate) async fn app() -> TestApp {
    let t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "manager", "type": "reference", "collection": "people"},
        {"key": "mentors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    let projects = json!({"name": "Projects", "fields": [
        {"key": "title", "type": "text", "required": true},
        {"key": "lead", "type": "reference", "collection": "people"}
    ]});
    assert_eq!(t.put_collection("projects", projects).await.status, 201);
    t
}

fn referrer_count(t: &folio::content::ItemRecord) -> u64 {
    t.restrict_count
}

#[tokio::test]
async fn references_to_missing_or_deleted_items_are_refused_and_nothing_written() {
    let t = app().await;
    let gone = folio::ids::ItemId::new().to_string();
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "people", "fields": [{"name": "A", "manager": gone}]})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["errors"]["manager"][0], "This value does not exist.");
    let x = t.create("people", "published", json!({"name": "X"})).await;
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{x}/"), None)
            .await
            .status,
        204
    );
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "projects", "fields": [{"title": "P", "lead": x}]})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"]["lead"][0], "This value does not exist.");
    let list = t
        .request("GET", "/v2/content/projects/?preview=1", None)
        .await;
    assert_eq!(list.body["meta"]["count"], 0);
}

#[tokio::test]
async fn delete_of_referenced_item_is_refused_with_referrers_until_they_let_go() {
    let t = app().await;
    let boss = t
        .create("people", "published", json!({"name": "Boss"}))
        .await;
    let ada = t
        .create(
            "people",
            "published",
            json!({"name": "Ada", "manager": boss}),
        )
        .await;
    let proj = t
        .create(
            "projects",
            "published",
            json!({"title": "Engine", "lead": boss}),
        )
        .await;
    let path = format!("/v2/content/people/{boss}/");
    let r = t.request("DELETE", &path, None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        r.body["detail"],
        "This content object is used in another content object."
    );
    let mut by: Vec<Value> = r.body["referenced_by"].as_array().unwrap().clone();
    by.sort_by_key(|v| v.to_string());
    let mut want = vec![
        json!({"collection": "people", "id": ada, "field": "manager"}),
        json!({"collection": "projects", "id": proj, "field": "lead"}),
    ];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(by, want);

    // Each referrer lets go in its own way: a patch clears, a delete releases.
    let r = t
        .request(
            "PATCH",
            &format!("/v2/content/people/{ada}/"),
            Some(json!({"fields": {"manager": ""}})),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(t.request("DELETE", &path, None).await.status, 400);
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/projects/{proj}/"), None)
            .await
            .status,
        204
    );
    assert_eq!(referrer_count(&t.stored("people", &boss).await.unwrap()), 0);
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
}

#[tokio::test]
async fn put_that_drops_a_reference_releases_it_and_a_move_keeps_one_referrer() {
    let t = app().await;
    let a = t.create("people", "published", json!({"name": "A"})).await;
    let b = t.create("people", "published", json!({"name": "B"})).await;
    let p = t
        .create("projects", "published", json!({"title": "P", "lead": a}))
        .await;
    let path = format!("/v2/content/projects/{p}/");
    assert_eq!(
        t.request(
            "PUT",
            &path,
            Some(json!({"fields": {"title": "P", "lead": b}}))
        )
        .await
        .status,
        202
    );
    assert_eq!(referrer_count(&t.stored("people", &a).await.unwrap()), 0);
    assert_eq!(referrer_count(&t.stored("people", &b).await.unwrap()), 1);
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{a}/"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{b}/"), None)
            .await
            .status,
        400
    );
    let r = t
        .request(
            "PUT",
            &path,
            Some(json!({"fields": {"title": "P", "lead": p}})),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "a reference to another collection's id that does not exist: {:?}",
        r.body
    );
    assert_eq!(
        t.request("PUT", &path, Some(json!({"fields": {"title": "P"}})))
            .await
            .status,
        202
    );
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{b}/"), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn detach_references_do_not_block_and_are_recorded_for_cleanup() {
    let t = app().await;
    let mentor = t
        .create("people", "published", json!({"name": "Mentor"}))
        .await;
    let ada = t
        .create(
            "people",
            "published",
            json!({"name": "Ada", "mentors": [mentor, mentor]}),
        )
        .await;
    let got = t
        .request("GET", &format!("/v2/content/people/{ada}/?levels=1"), None)
        .await;
    assert_eq!(
        got.body["mentors"],
        json!([format!("/v2/content/?keys=people[_id={mentor}]")]),
        "listed once"
    );
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{mentor}/"), None)
            .await
            .status,
        204
    );
    let edges = t.referrers("people", &mentor).await;
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].id, ada);
    assert_eq!(edges[0].detach, vec!["mentors".to_owned()]);
    assert!(edges[0].restrict.is_empty());
    assert_eq!(t.stored("people", &mentor).await.unwrap().restrict_count, 0);
    // A deleted target vanishes from reads of its referrers.
    let got = t
        .request("GET", &format!("/v2/content/people/{ada}/"), None)
        .await;
    assert_eq!(got.body["mentors"], json!([]));
}

#[tokio::test]
async fn references_expand_to_the_requested_depth() {
    let t = app().await;
    let c = t.create("people", "published", json!({"name": "C"})).await;
    let b = t
        .create("people", "published", json!({"name": "B", "manager": c}))
        .await;
    let a = t
        .create("people", "published", json!({"name": "A", "manager": b}))
        .await;
    let path = format!("/v2/content/people/{a}/");
    let d2 = t.request("GET", &path, None).await;
    assert_eq!(d2.body["manager"]["name"], "B");
    assert_eq!(
        d2.body["manager"]["manager"],
        format!("/v2/content/?keys=people[_id={c}]")
    );
    let d3 = t.request("GET", &format!("{path}?levels=3"), None).await;
    assert_eq!(d3.body["manager"]["manager"]["name"], "C");
    let d1 = t.request("GET", &format!("{path}?levels=1"), None).await;
    assert_eq!(
        d1.body["manager"],
        format!("/v2/content/?keys=people[_id={b}]")
    );
    let list = t
        .request("GET", "/v2/content/people/?fields.name=A", None)
        .await;
    assert_eq!(list.body["data"]["people"][0]["manager"]["name"], "B");
}

/// A create that references X racing a delete of X never leaves a
/// dangling reference, and X's referrer count always equals its referrers.
#[tokio::test]
async fn create_referencing_x_races_delete_of_x_without_dangling() {
    let t = app().await;
    let (mut created_won, mut delete_won) = (0, 0);
    for round in 0..100 {
        let x = t
            .create("people", "published", json!({"name": format!("X{round}")}))
            .await;
        let create = t.request("POST", "/v2/content/", Some(json!({"key": "projects", "status": "published", "fields": [{"title": "P", "lead": x}]})));
        let x_path = format!("/v2/content/people/{x}/");
        let delete = t.request("DELETE", &x_path, None);
        let (c, d) = tokio::join!(create, delete);
        let stored_x = t.stored("people", &x).await.unwrap();
        match (c.status, d.status) {
            (202, 400) => {
                created_won += 1;
                assert!(stored_x.deleted_at.is_none());
                assert_eq!(referrer_count(&stored_x), 1, "round {round}");
                let p = c.body["items"][0]["meta"]["id"].as_str().unwrap();
                let edges = t.referrers("people", &x).await;
                assert_eq!(edges.len(), 1);
                assert_eq!(
                    (edges[0].collection.as_str(), edges[0].id.as_str()),
                    ("projects", p)
                );
            }
            (400, 204) => {
                delete_won += 1;
                assert!(stored_x.deleted_at.is_some());
                assert_eq!(referrer_count(&stored_x), 0, "round {round}");
                assert_eq!(c.body["errors"]["lead"][0], "This value does not exist.");
            }
            other => panic!(
                "round {round}: impossible outcome {other:?}: {:?} {:?}",
                c.body, d.body
            ),
        }
    }
    // No live project points at a deleted person.
    let projects = t
        .request("GET", "/v2/content/projects/?page_size=100&levels=1", None)
        .await;
    assert_eq!(projects.body["meta"]["count"], created_won);
    for p in projects.body["data"]["projects"].as_array().unwrap() {
        let link = p["lead"].as_str().unwrap();
        let id = link.trim_end_matches(']').rsplit('=').next().unwrap();
        assert!(
            t.stored("people", id).await.unwrap().deleted_at.is_none(),
            "dangling reference to {id}"
        );
    }
    eprintln!("race outcomes: create first {created_won}, delete first {delete_won}");
}

#[tokio::test]
async fn batch_delete_of_100_mixed_ids_reports_exactly_and_can_be_restored() {
    let t = app().await;
    let names: Vec<_> = (0..25).map(|i| json!({"name": format!("p{i}")})).collect();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = t
            .request(
                "POST",
                "/v2/content/people/",
                Some(json!({"status": "published", "fields": names})),
            )
            .await;
        ids.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["meta"]["id"].as_str().unwrap().to_owned()),
        );
    }
    // 75 people; 5 of them referenced by projects.
    for id in &ids[..5] {
        t.create("projects", "published", json!({"title": "P", "lead": id}))
            .await;
    }
    t.drain_events().await;
    let missing: Vec<String> = (0..20)
        .map(|_| folio::ids::ItemId::new().to_string())
        .collect();
    let mut body: Vec<String> = ids.clone();
    body.extend(missing.iter().cloned());
    body.extend(ids[70..].iter().cloned()); // 5 duplicates
    assert_eq!(body.len(), 100);
    let r = t
        .request(
            "POST",
            "/v2/content/people/batch-delete/",
            Some(json!(body)),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["deletedCount"], 70);
    let errors: Vec<String> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    let mut want: Vec<String> = ids[..5]
        .iter()
        .map(|id| format!("Content object: \"{id}\" is used in another content object."))
        .collect();
    want.extend(
        missing
            .iter()
            .map(|id| format!("Content object: \"{id}\" doesn't exist")),
    );
    assert_eq!(errors, want, "in request order, duplicates once");
    let events = t.drain_events().await;
    assert_eq!(events.len(), 70);
    assert!(events.iter().all(|e| e.kind == EventType::Delete));
    assert_eq!(
        events
            .iter()
            .map(|e| e.item_id)
            .collect::<BTreeSet<_>>()
            .len(),
        70
    );

    let all_ok = t
        .request("POST", "/v2/content/people/batch-delete/", Some(json!([])))
        .await;
    assert_eq!(all_ok.status, 200);
    assert_eq!(all_ok.body, json!({"deletedCount": 0}));

    // Trash lists them; restore brings one back.
    let trash = t.request("GET", "/v2/content/people/deleted/", None).await;
    assert_eq!(trash.status, 200);
    assert_eq!(trash.body["meta"]["count"], 70);
    let back = &ids[10];
    let r = t
        .request("POST", &format!("/v2/content/people/{back}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = t
        .request("GET", &format!("/v2/content/people/{back}/"), None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "p10");
    assert_eq!(
        t.drain_events()
            .await
            .iter()
            .map(|e| e.kind)
            .collect::<Vec<_>>(),
        vec![EventType::Restore]
    );
    let again = t
        .request("POST", &format!("/v2/content/people/{back}/restore/"), None)
        .await;
    assert_eq!(again.status, 404, "a live item is not in the trash");
}

#[tokio::test]
async fn batch_delete_refuses_bad_bodies_and_deletes_nothing() {
    let t = app().await;
    let a = t.create("people", "published", json!({"name": "A"})).await;
    let r = t
        .invoke_file(
            "batch-delete-too-many.json",
            &[
                ("team_members", "people"),
                ("01JF0000000000000000000000", a.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("100"), "{}", r.detail());
    let r = t
        .invoke_file("batch-delete-malformed.json", &[("team_members", "people")])
        .await;
    assert_eq!(r.status, 400);
    for bad in [json!([a, 1]), json!({"ids": [a]}), json!("x")] {
        let r = t
            .request("POST", "/v2/content/people/batch-delete/", Some(bad))
            .await;
        assert_eq!(r.status, 400);
    }
    assert!(t.stored("people", &a).await.unwrap().deleted_at.is_none());
    let r = t
        .request(
            "POST",
            "/v2/content/no_such_collection/batch-delete/",
            Some(json!([a])),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.detail(), "Not found.");
    let r = t
        .invoke_file(
            "batch-delete.json",
            &[
                ("team_members", "people"),
                ("01JF0000000000000000000000", a.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "one of the two ids is missing: {:?}", r.body);
    assert_eq!(r.body["deletedCount"], 1);
}

#[tokio::test]
async fn restore_after_its_reference_target_was_deleted_is_409() {
    let t = app().await;
    let boss = t
        .create("people", "published", json!({"name": "Boss"}))
        .await;
    let ada = t
        .create(
            "people",
            "published",
            json!({"name": "Ada", "manager": boss}),
        )
        .await;
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{ada}/"), None)
            .await
            .status,
        204
    );
    // Ada's delete released her reference, so the boss can go.
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{boss}/"), None)
            .await
            .status,
        204
    );
    let r = t
        .request("POST", &format!("/v2/content/people/{ada}/restore/"), None)
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.detail().contains(&boss), "{}", r.detail());
    assert!(t.stored("people", &ada).await.unwrap().deleted_at.is_some());
    // Restore the target first, then the referrer comes back with its reference.
    assert_eq!(
        t.request("POST", &format!("/v2/content/people/{boss}/restore/"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        t.request("POST", &format!("/v2/content/people/{ada}/restore/"), None)
            .await
            .status,
        200
    );
    assert_eq!(referrer_count(&t.stored("people", &boss).await.unwrap()), 1);
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{boss}/"), None)
            .await
            .status,
        400
    );
}

/// `secret_docs`, and `notes` whose `doc` (restrict) references it; one
/// note referencing S1, deleted (which released S1). Returns (S1, note).
async fn deleted_note_of_secret_doc(t: &TestApp) -> (String, String) {
    let docs = json!({"name": "Secret docs", "fields": [{"key": "title", "type": "text"}]});
    assert_eq!(t.put_collection("secret_docs", docs).await.status, 201);
    assert_eq!(
        t.put_collection("notes", notes_schema("reference"))
            .await
            .status,
        201
    );
    let s1 = t
        .create("secret_docs", "published", json!({"title": "S1"}))
        .await;
    let note = t.create("notes", "published", json!({"doc": s1})).await;
    let path = format!("/v2/content/notes/{note}/");
    assert_eq!(t.request("DELETE", &path, None).await.status, 204);
    assert_eq!(
        referrer_count(&t.stored("secret_docs", &s1).await.unwrap()),
        0
    );
    (s1, note)
}

fn notes_schema(doc_type: &str) -> Value {
    let doc = match doc_type {
        "reference" => json!({"key": "doc", "type": "reference", "collection": "secret_docs"}),
        other => json!({"key": "doc", "type": other}),
    };
    json!({"name": "Notes", "fields": [doc]})
}

#[tokio::test]
async fn restore_by_a_token_limited_away_from_a_referenced_collection_is_403_and_writes_nothing() {
    use folio::auth::{Scope, TokenRecord};
    let t = app().await;
    let (s1, note) = deleted_note_of_secret_doc(&t).await;
    let notes_only = t
        .mint_record(TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
            collections: Some(vec![folio::ids::CollectionKey::parse("notes").unwrap()]),
            operations: None,
            revoked: false,
            name: Some("notes only".into()),
            created_at: folio::clock::now(),
        })
        .await;
    let restore = format!("/v2/content/notes/{note}/restore/");
    let r = t
        .request_as("POST", &restore, None, Some(&notes_only), &[])
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.detail().contains("\"secret_docs\""), "{}", r.detail());
    assert!(t.stored("notes", &note).await.unwrap().deleted_at.is_some());
    assert!(t.referrers("secret_docs", &s1).await.is_empty());
    let s1_path = format!("/v2/content/secret_docs/{s1}/");
    assert_eq!(t.request("DELETE", &s1_path, None).await.status, 204);
}

#[tokio::test]
async fn restore_does_not_link_through_a_field_that_is_no_longer_a_reference() {
    let t = app().await;
    let (s1, note) = deleted_note_of_secret_doc(&t).await;
    assert_eq!(
        t.put_collection("notes", notes_schema("text")).await.status,
        200
    );
    let r = t
        .request("POST", &format!("/v2/content/notes/{note}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let restored = t.stored("notes", &note).await.unwrap();
    assert!(restored.out_refs.is_empty(), "{:?}", restored.out_refs);
    assert_eq!(
        referrer_count(&t.stored("secret_docs", &s1).await.unwrap()),
        0
    );
    assert!(t.referrers("secret_docs", &s1).await.is_empty());
    let s1_path = format!("/v2/content/secret_docs/{s1}/");
    assert_eq!(t.request("DELETE", &s1_path, None).await.status, 204);
    // The value stays as data, shown per today's schema: a text.
    let r = t
        .request("GET", &format!("/v2/content/notes/{note}/?preview=1"), None)
        .await;
    assert_eq!(r.body["doc"], json!(s1), "{:?}", r.body);
}

#[tokio::test]
async fn restore_drops_a_value_whose_field_now_references_another_collection() {
    let t = app().await;
    let (s1, note) = deleted_note_of_secret_doc(&t).await;
    let retargeted = json!({"name": "Notes", "fields": [
        {"key": "doc", "type": "reference", "collection": "notes"}
    ]});
    assert_eq!(t.put_collection("notes", retargeted).await.status, 200);
    let r = t
        .request("POST", &format!("/v2/content/notes/{note}/restore/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // S1's id names no note: kept, it would be a reference no edge guards.
    let restored = t.stored("notes", &note).await.unwrap();
    assert!(
        !restored.fields.contains_key("doc"),
        "{:?}",
        restored.fields
    );
    assert!(restored.out_refs.is_empty(), "{:?}", restored.out_refs);
    assert!(t.referrers("secret_docs", &s1).await.is_empty());
}

#[tokio::test]
async fn trash_filters_by_deletion_time_and_hides_expired_items() {
    let t = app().await;
    let a = t.create("people", "published", json!({"name": "A"})).await;
    assert_eq!(
        t.request("DELETE", &format!("/v2/content/people/{a}/"), None)
            .await
            .status,
        204
    );
    let r = t
        .invoke_file("list-deleted.json", &[("team_members", "people")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["people"][0]["meta"]["id"], json!(a));
    assert!(r.body["data"]["people"][0]["meta"]["deleted_at"].is_string());
    let later = t
        .request(
            "GET",
            "/v2/content/people/deleted/?deleted_after=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(later.body["meta"]["count"], 0);
    assert_eq!(
        t.request(
            "GET",
            "/v2/content/people/deleted/?deleted_after=soon",
            None
        )
        .await
        .status,
        400
    );
    // Past its retention, an item is gone even before TTL removes it.
    t.app
        .store
        .client()
        .update_item()
        .table_name(&t.table)
        .set_key(Some(folio::store::keys::item(
            &t.org,
            &folio::ids::CollectionKey::parse("people").unwrap(),
            &folio::ids::ItemId::parse(&a).unwrap(),
        )))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
    let r = t.request("GET", "/v2/content/people/deleted/", None).await;
    assert_eq!(r.body["meta"]["count"], 0);
    assert_eq!(
        t.request("POST", &format!("/v2/content/people/{a}/restore/"), None)
            .await
            .status,
        404
    );
}

/// The ids of the items `by_field` lists as holding `people/<id>` through a
/// `restrict` field (no fallback to the edges' filtered read).
async fn listed_holders(t: &TestApp, id: &str) -> Vec<String> {
    t.app
        .store
        .restrict_edges(
            &t.org,
            (
                &folio::ids::CollectionKey::parse("people").unwrap(),
                &folio::ids::ItemId::parse(id).unwrap(),
            ),
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn restrict_edges_written_before_the_holders_index_are_named_and_listed_once() {
    let t = app().await;
    let boss = t
        .create("people", "published", json!({"name": "Boss"}))
        .await;
    let mut holders = Vec::new();
    for name in ["A", "B"] {
        holders.push(
            t.create(
                "people",
                "published",
                json!({"name": name, "manager": boss}),
            )
            .await,
        );
    }
    holders.sort();
    let detached = t
        .create(
            "people",
            "published",
            json!({"name": "C", "mentors": [boss]}),
        )
        .await;
    assert_eq!(
        listed_holders(&t, &boss).await,
        holders,
        "a new edge is listed"
    );

    // As an earlier version wrote them: the edges without the index keys,
    // one and then both. A refused delete names both each time (the index
    // lists fewer than the counter holds: the edges read with a filter).
    let people = folio::ids::CollectionKey::parse("people").unwrap();
    let target = folio::ids::ItemId::parse(&boss).unwrap();
    let path = format!("/v2/content/people/{boss}/");
    for (i, id) in holders.iter().enumerate() {
        let id = folio::ids::ItemId::parse(id).unwrap();
        t.app
            .store
            .client()
            .update_item()
            .table_name(&t.table)
            .set_key(Some(folio::store::keys::edge(
                &t.org,
                (&people, &target),
                (&people, &id),
            )))
            .update_expression("REMOVE ix_pk, ix_sk")
            .send()
            .await
            .unwrap();
        assert_eq!(listed_holders(&t, &boss).await, holders[i + 1..].to_vec());
        let r = t.request("DELETE", &path, None).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        let mut named: Vec<String> = r.body["referenced_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        named.sort();
        assert_eq!(named, holders, "{} of 2 edges unlisted", i + 1);
    }

    // One holder lets go before the upgrade step runs: its edge is gone,
    // and the step lists only the other, once; the detach edge stays out.
    let r = t
        .request(
            "PATCH",
            &format!("/v2/content/people/{}/", holders[1]),
            Some(json!({"fields": {"manager": ""}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(t.app.store.index_restrict_edges().await.unwrap(), 1);
    assert_eq!(t.app.store.index_restrict_edges().await.unwrap(), 0);
    assert_eq!(listed_holders(&t, &boss).await, vec![holders[0].clone()]);
    assert_eq!(t.referrers("people", &boss).await.len(), 2);
    assert!(t
        .referrers("people", &boss)
        .await
        .iter()
        .any(|e| e.id == detached && e.restrict.is_empty()));
}
