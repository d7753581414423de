//! The endpoint table: every HTTP endpoint once, with the Lambda function
//! that serves it. Local routing (`dispatch`, used by the tests and tools
//! that run handlers in process) is derived from it, and tests check that
//! `template.yaml` and the `cargo lambda watch` router in `Cargo.toml`
//! declare exactly these routes. A function's `main.rs` calls `handle`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

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

pub const ENDPOINTS: [Endpoint; 23] = [
    e("put-collection", "PUT", collections::PUT),
    e("get-collection", "GET", collections::GET),
    e("delete-collection", "DELETE", collections::DELETE),
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

/// Runs the handler of `function`. Each handler's future is boxed, so
/// this one stays small whatever the largest handler holds (an outbound
/// HTTP request, an expansion), and callers that await many requests in a
/// row (tests, tools) do not grow their own futures by the largest.
pub async fn handle(app: &App, function: &str, req: Request) -> Result<Response<Body>, Infallible> {
    type Handled<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + 'a>>;
    let handler: Handled<'_> = match function {
        "put-collection" => Box::pin(collections::put(app, req)),
        "get-collection" => Box::pin(collections::get(app, req)),
        "delete-collection" => Box::pin(collections::delete(app, req)),
        "list-collections" => Box::pin(collections::list(app, req)),
        "create-item" => Box::pin(create::handle(app, req)),
        "read-content" => Box::pin(read::keys(app, req)),
        "list-items" => Box::pin(read::list(app, req)),
        "get-item" => Box::pin(read::get(app, req)),
        "replace-item" => Box::pin(update::replace(app, req)),
        "patch-item" => Box::pin(update::patch(app, req)),
        "delete-item" => Box::pin(delete::handle(app, req)),
        "batch-delete" => Box::pin(delete::batch(app, req)),
        "list-deleted" => Box::pin(trash::list(app, req)),
        "restore-item" => Box::pin(trash::restore(app, req)),
        "put-webhook" => Box::pin(webhooks::put(app, req)),
        "get-webhook" => Box::pin(webhooks::get(app, req)),
        "list-webhooks" => Box::pin(webhooks::list(app, req)),
        "delete-webhook" => Box::pin(webhooks::delete(app, req)),
        "rotate-webhook-secret" => Box::pin(webhooks::rotate(app, req)),
        "test-webhook" => Box::pin(webhooks::test(app, req)),
        "list-webhook-deliveries" => Box::pin(webhooks::deliveries(app, req)),
        "retry-webhook-delivery" => Box::pin(webhooks::retry(app, req)),
        _ => return Ok(error_response(&Error::NotFound, "")),
    };
    handler.await
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
        assert_eq!(functions().len(), 22);
    }
}
