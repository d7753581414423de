//! The endpoint table: every HTTP endpoint once, with the Lambda function
//! that serves it. Local routing (`dispatch`, used by the tests and tools
//! that run handlers in process) is derived from it, and tests check that
//! `template.yaml` and the `cargo lambda watch` router in `Cargo.toml`
//! declare exactly these routes. A function's `main.rs` calls `handle`.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};

use super::{collections, create, delete, read, trash, update, webhooks};
use crate::app::App;
use crate::error::Error;
use crate::http::{error_response, path_matches, Route};

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The Lambda function (binary in `functions/`) that serves it.
    pub function: &'static str,
    pub method: &'static str,
    pub route: Route,
}

const fn e(function: &'static str, method: &'static str, route: Route) -> Endpoint {
    Endpoint {
        function,
        method,
        route,
    }
}

pub const ENDPOINTS: [Endpoint; 22] = [
    e("put-collection", "PUT", collections::PUT),
    e("get-collection", "GET", collections::GET),
    e("list-collections", "GET", collections::LIST),
    e("create-item", "POST", create::CREATE),
    e("create-item", "POST", create::CREATE_IN),
    e("read-content", "GET", read::KEYS),
    e("list-items", "GET", read::LIST),
    e("get-item", "GET", read::GET),
    e("replace-item", "PUT", update::REPLACE),
    e("patch-item", "PATCH", update::PATCH),
    e("delete-item", "DELETE", delete::DELETE),
    e("batch-delete", "POST", delete::BATCH),
    e("list-deleted", "GET", trash::LIST),
    e("restore-item", "POST", trash::RESTORE),
    e("put-webhook", "PUT", webhooks::PUT),
    e("get-webhook", "GET", webhooks::GET),
    e("list-webhooks", "GET", webhooks::LIST),
    e("delete-webhook", "DELETE", webhooks::DELETE),
    e("rotate-webhook-secret", "POST", webhooks::ROTATE),
    e("test-webhook", "POST", webhooks::TEST),
    e("list-webhook-deliveries", "GET", webhooks::DELIVERIES),
    e("retry-webhook-delivery", "POST", webhooks::RETRY),
];

/// Functions that consume events rather than serve HTTP.
pub const CONSUMERS: [&str; 3] = ["relay", "worker", "deliver"];

/// Every HTTP function, once, in table order.
pub fn functions() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in &ENDPOINTS {
        if !out.contains(&e.function) {
            out.push(e.function);
        }
    }
    out
}

/// The endpoint a method and path reach, as API Gateway picks it: with or
/// without the trailing slash, literal segments before parameters.
pub fn endpoint(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .filter(|e| e.method == method && path_matches(e.route.pattern, path))
        .min_by_key(|e| e.route.pattern.matches('{').count())
}

/// Runs the handler of `function`.
pub async fn handle(app: &App, function: &str, req: Request) -> Result<Response<Body>, Infallible> {
    match function {
        "put-collection" => collections::put(app, req).await,
        "get-collection" => collections::get(app, req).await,
        "list-collections" => collections::list(app, req).await,
        "create-item" => create::handle(app, req).await,
        "read-content" => read::keys(app, req).await,
        "list-items" => read::list(app, req).await,
        "get-item" => read::get(app, req).await,
        "replace-item" => update::replace(app, req).await,
        "patch-item" => update::patch(app, req).await,
        "delete-item" => delete::handle(app, req).await,
        "batch-delete" => delete::batch(app, req).await,
        "list-deleted" => trash::list(app, req).await,
        "restore-item" => trash::restore(app, req).await,
        "put-webhook" => webhooks::put(app, req).await,
        "get-webhook" => webhooks::get(app, req).await,
        "list-webhooks" => webhooks::list(app, req).await,
        "delete-webhook" => webhooks::delete(app, req).await,
        "rotate-webhook-secret" => webhooks::rotate(app, req).await,
        "test-webhook" => webhooks::test(app, req).await,
        "list-webhook-deliveries" => webhooks::deliveries(app, req).await,
        "retry-webhook-delivery" => webhooks::retry(app, req).await,
        _ => Ok(error_response(&Error::NotFound, "")),
    }
}

/// Serves a request in process as API Gateway and the functions would.
pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    let found = endpoint(req.method().as_str(), req.uri().path());
    let response = match found {
        Some(e) => handle(app, e.function, req).await,
        None => Ok(error_response(&Error::NotFound, "")),
    };
    match response {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
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
        ] {
            assert_eq!(
                endpoint(method, &path).map(|e| e.function),
                Some(function),
                "{method} {path}"
            );
        }
        assert!(endpoint("DELETE", "/v2/collections/team/").is_none());
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
        assert_eq!(functions().len(), 21);
    }
}
