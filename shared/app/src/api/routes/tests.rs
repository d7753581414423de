use super::*;

#[test]
fn every_path_reaches_the_most_specific_endpoint() {
    let id = "01JF0000000000000000000000";
    for (method, path, function) in [
        (
            "GET",
            "/v2/content/team/deleted/".to_owned(),
            "list-deleted",
        ),
        ("GET", "/v2/content/team/deleted".to_owned(), "list-deleted"),
        ("GET", format!("/v2/content/team/{id}/"), "get-item"),
        (
            "POST",
            "/v2/content/team/batch-delete/".to_owned(),
            "batch-delete",
        ),
        ("POST", "/v2/content/".to_owned(), "create-item"),
        ("POST", "/v2/content/team/".to_owned(), "create-item"),
        (
            "POST",
            format!("/v2/content/team/{id}/restore/"),
            "restore-item",
        ),
        ("GET", "/v2/collections".to_owned(), "list-collections"),
        (
            "GET",
            format!("/v2/content/team/{id}/versions/"),
            "list-versions",
        ),
        (
            "GET",
            format!("/v2/content/team/{id}/versions/3"),
            "get-version",
        ),
        (
            "GET",
            format!("/v2/content/team/{id}/versions/3/compare/1/"),
            "compare-versions",
        ),
        (
            "POST",
            format!("/v2/content/team/{id}/versions/3/revert/"),
            "revert-version",
        ),
        (
            "POST",
            format!("/v2/content/team/{id}/schedules/"),
            "create-schedule",
        ),
        (
            "GET",
            format!("/v2/content/team/{id}/schedules"),
            "list-schedules",
        ),
        (
            "DELETE",
            format!("/v2/content/team/{id}/schedules/{id}/"),
            "cancel-schedule",
        ),
        ("GET", "/v2/schedules/".to_owned(), "list-org-schedules"),
    ] {
        assert_eq!(
            endpoint(method, &path).map(|e| e.function),
            Some(function),
            "{method} {path}"
        );
    }
    assert_eq!(
        endpoint("DELETE", "/v2/collections/team/").map(|e| e.function),
        Some("delete-collection")
    );
    assert!(endpoint("DELETE", "/v2/collections/").is_none());
    assert_eq!(
        endpoint("POST", "/v2/webhooks/site/deliveries/msg_1/retry/").map(|e| e.function),
        Some("retry-webhook-delivery")
    );
    assert_eq!(
        endpoint("GET", "/v2/webhooks/site/deliveries").map(|e| e.function),
        Some("list-webhook-deliveries")
    );
    assert_eq!(
        endpoint("GET", "/v2/content/").map(|e| e.function),
        Some("read-content")
    );
    assert_eq!(
        endpoint("POST", &format!("/v2/content/team/{id}/unpublish/")).map(|e| e.function),
        Some("unpublish-item")
    );
    assert_eq!(functions().len(), 31);
}
