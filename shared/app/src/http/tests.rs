use super::*;
use serde_json::json;

#[test]
fn paths_match_with_or_without_a_stage_prefix() {
    let p = match_path(
        "/v2/content/{collection_key}/{item_id}/",
        "/prod/v2/content/team/01ABC/",
    )
    .unwrap();
    assert_eq!(p["collection_key"], "team");
    assert_eq!(p["item_id"], "01ABC");
    assert!(match_path("/v2/content/{collection_key}/", "/v2/content/team/x/").is_none());
    assert!(match_path(
        "/v2/content/{collection_key}/batch-delete/",
        "/v2/content/team/other/"
    )
    .is_none());
    assert!(match_path("/v2/collections/", "/elsewhere/").is_none());
}

#[test]
fn every_error_body_is_json_with_a_detail() {
    for e in [
        Error::NotFound,
        Error::InvalidToken,
        Error::field("name", "This field is required."),
        Error::Referenced {
            by: vec![],
            total: 0,
        },
        Error::AddSlash {
            location: "/v2/x/".into(),
        },
        Error::Throttled,
        Error::internal("boom"),
    ] {
        let r = error_response(&e, "req-1");
        let Body::Text(t) = r.body() else { panic!() };
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        assert!(v["detail"].is_string());
        assert!(!t.contains("boom"));
    }
}

fn get(if_none_match: Option<&str>, published: bool) -> Read {
    Read {
        if_none_match: if_none_match.map(str::to_owned),
        published,
    }
}

#[test]
fn reads_get_a_digest_tag_and_a_matching_one_is_a_304() {
    let body = json!({"data": {"team": []}});
    let first = finish(json_response(200, &body), "req-1", Some(&get(None, true)));
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.len() == 22, "{tag}");
    assert_eq!(first.headers()["cache-control"], CACHE_PUBLISHED);
    assert_eq!(first.headers()["x-request-id"], "req-1");

    for held in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        "*".into(),
    ] {
        let again = finish(
            json_response(200, &body),
            "req-2",
            Some(&get(Some(&held), true)),
        );
        assert_eq!(again.status(), 304, "{held}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
        assert!(matches!(again.body(), Body::Empty));
        assert!(again.headers().get("content-type").is_none());
    }
    let changed = json!({"data": {"team": [1]}});
    let moved = finish(
        json_response(200, &changed),
        "req-3",
        Some(&get(Some(&tag), true)),
    );
    assert_eq!(moved.status(), 200);
    assert_ne!(moved.headers()["etag"].to_str().unwrap(), tag);
}

#[test]
fn an_item_read_tag_names_its_version_and_its_body() {
    let tag = |body: serde_json::Value| {
        let r = with_read_etag(json_response(200, &body), 2);
        r.headers()["etag"].to_str().unwrap().to_owned()
    };
    let old = tag(json!({"meta": {"version": 2}, "title": "t"}));
    let new = tag(json!({"meta": {"version": 2}, "title": "t", "subtitle": null}));
    assert_ne!(old, new, "one version, two bodies");
    for t in [&old, &new] {
        assert!(t.starts_with("\"2-") && t.ends_with('"'), "{t}");
        assert_eq!(
            crate::ids::Version::from_if_match(t),
            Some(crate::ids::Version(2))
        );
    }
}

#[test]
fn a_version_tag_is_kept_and_drafts_writes_and_errors_are_never_stored() {
    let item = with_etag(json_response(200, &json!({"meta": {}})), 3);
    let read = finish(item, "r", Some(&get(Some("\"3\""), false)));
    assert_eq!(read.status(), 304);
    assert_eq!(read.headers()["cache-control"], CACHE_NEVER);

    let refused = finish(
        error_response(&Error::NotFound, "r"),
        "r",
        Some(&get(None, true)),
    );
    assert_eq!(refused.headers()["cache-control"], CACHE_NEVER);
    assert!(refused.headers().get("etag").is_none());
    assert_eq!(refused.headers()["x-request-id"], "r");

    let write = finish(json_response(202, &json!({})), "w", None);
    assert_eq!(write.headers()["cache-control"], CACHE_NEVER);
    assert_eq!(write.headers()["x-request-id"], "w");
}
