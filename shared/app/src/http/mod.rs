//! The HTTP edge shared by every endpoint: the trailing-slash rule, path
//! parameters, authentication and scopes, body parsing, and the one mapping
//! from `Error` to a status and a `{"detail"}` body.

pub mod refusals;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;

use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::app::App;
use crate::auth::{Operation, Principal, Scope, Token};
use crate::error::Error;
use crate::ids::{CollectionKey, ItemId};

/// Bodies above Lambda's own 6 MB payload limit are refused up front.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// What an endpoint is: its path, and what a token needs to call it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// e.g. `/v2/content/{collection_key}/{item_id}/`
    pub pattern: &'static str,
    pub scope: Scope,
    pub operation: Option<Operation>,
    /// Whether `?auth_token=` is accepted (reads only).
    pub query_token: bool,
}

impl Route {
    /// What the route's operation acts on, as a refusal names it.
    pub fn subject(&self) -> &'static str {
        if self.pattern.starts_with("/v2/webhooks/") {
            "webhooks"
        } else if self.pattern.starts_with("/v2/collections/") {
            "collections"
        } else {
            "content"
        }
    }
}

/// A request that passed the edge: a known caller on a well-formed path.
pub struct Call {
    pub request_id: String,
    pub principal: Principal,
    params: HashMap<&'static str, String>,
    query: lambda_http::aws_lambda_events::query_map::QueryMap,
    headers: http::HeaderMap,
    body: Vec<u8>,
    route: Route,
}

impl Call {
    /// Who makes this request, as the versions it writes name it: the
    /// token's label and a prefix of its hash (never the token).
    pub fn author(&self) -> crate::content::Author {
        crate::content::Author::token(
            self.principal.record.name.as_deref(),
            &self.principal.token_hash,
            &self.request_id,
        )
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The path's collection key, already checked against the token's
    /// scope limits. A malformed key names no collection: 404.
    pub fn collection_key(&self) -> Result<CollectionKey, Error> {
        let key = self
            .param("collection_key")
            .and_then(|k| CollectionKey::parse(k).ok())
            .ok_or(Error::NotFound)?;
        self.allow(&key)?;
        Ok(key)
    }

    /// Checks the token's collection and operation limits for `key`.
    pub fn allow(&self, key: &CollectionKey) -> Result<(), Error> {
        self.principal
            .require(self.route.scope, self.route.operation, Some(key))
    }

    /// Refuses a write whose references point into a collection this
    /// token is not allowed on: the write would pin an item it cannot see
    /// and tell it which ids exist.
    pub fn allow_references(&self, refs: &[crate::content::OutRef]) -> Result<(), Error> {
        match refs
            .iter()
            .find(|r| !self.principal.allows_collection(&r.collection))
        {
            Some(r) => Err(Error::Forbidden(format!(
                "This token is not allowed on collection \"{}\", which the field \"{}\" references.",
                r.collection, r.field
            ))),
            None => Ok(()),
        }
    }

    /// The path's item id; a malformed id names no item: 404.
    pub fn item_id(&self) -> Result<ItemId, Error> {
        self.param("item_id")
            .and_then(|k| ItemId::parse(k).ok())
            .ok_or(Error::NotFound)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.first(name)
    }

    pub fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query.iter()
    }

    /// A request header the endpoint acts on. A value that is not visible
    /// ASCII is a 400: ignoring it would silently drop an `If-Match` or an
    /// `Idempotency-Key` the client relies on.
    pub fn header(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.headers.get(name) {
            None => Ok(None),
            Some(v) => v.to_str().map(Some).map_err(|_| {
                Error::bad_request(format!(
                    "The {name} header must be visible ASCII characters."
                ))
            }),
        }
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as `T`. Malformed JSON, bad UTF-8, wrong types and unknown
    /// fields are all a 400 that says what is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if self.body.is_empty() {
            return Err(Error::bad_request("A JSON request body is required."));
        }
        serde_json::from_slice(&self.body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                Error::bad_request(format!("Invalid request body: {e}"))
            }
            _ => Error::bad_request(format!("JSON parse error - {e}")),
        })
    }

    /// Refuses a body where the contract has none (DELETE).
    pub fn no_body(&self) -> Result<(), Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            Ok(())
        } else {
            Err(Error::bad_request("This endpoint takes no request body."))
        }
    }
}

/// Runs one endpoint: edge checks, then `f`, then the error mapping, all
/// inside a span that carries the request id.
pub async fn serve<F, Fut>(
    app: &App,
    req: Request,
    route: Route,
    f: F,
) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Call) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Error>>,
{
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    let read = Read::of(&req, route);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = route.pattern,
        org = tracing::field::Empty,
    );
    async move {
        let result = match edge(app, req, route, &request_id).await {
            Ok(call) => {
                tracing::Span::current().record("org", call.principal.org.as_str());
                f(call).await
            }
            Err(e) => Err(e),
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => error_response(&e, &request_id),
        };
        let response = finish(response, &request_id, read.as_ref());
        tracing::info!(status = response.status().as_u16(), "handled");
        Ok(response)
    }
    .instrument(span)
    .await
}

/// What a GET asked of the cache: the validators it holds, and whether
/// it reads published content (cacheable) or drafts and admin data.
struct Read {
    if_none_match: Option<String>,
    published: bool,
}

impl Read {
    fn of(req: &Request, route: Route) -> Option<Self> {
        if req.method() != http::Method::GET {
            return None;
        }
        let preview = req
            .query_string_parameters_ref()
            .and_then(|q| q.first("preview"))
            .is_some_and(|p| p != "0" && p != "false");
        Some(Read {
            if_none_match: req
                .headers()
                .get(http::header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            published: route.scope == Scope::Read && !preview,
        })
    }
}

/// Published reads may be kept by the caller's own cache but must be
/// revalidated (cheap: a 304 carries no body); drafts, admin data, writes
/// and errors are never stored. `private`: every read is authenticated,
/// so no shared cache may answer it for another caller.
pub const CACHE_PUBLISHED: &str = "private, no-cache";
pub const CACHE_NEVER: &str = "no-store";

/// Headers every response carries, and the conditional GET: a 200 without
/// an `ETag` gets one from its body's digest, and an `If-None-Match` that
/// names the current tag turns it into a 304 without a body.
fn finish(mut response: Response<Body>, request_id: &str, read: Option<&Read>) -> Response<Body> {
    let headers = response.headers_mut();
    if let Ok(v) = request_id.parse() {
        headers.insert("x-request-id", v);
    }
    let Some(read) = read.filter(|_| response.status() == 200) else {
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static(CACHE_NEVER),
        );
        return response;
    };
    if !response.headers().contains_key(http::header::ETAG) {
        let tag = format!("\"{}\"", digest(response_body(&response)));
        if let Ok(v) = tag.parse() {
            response.headers_mut().insert(http::header::ETAG, v);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static(if read.published {
            CACHE_PUBLISHED
        } else {
            CACHE_NEVER
        }),
    );
    headers.insert(
        http::header::VARY,
        http::HeaderValue::from_static("Authorization, X-Auth-Token"),
    );
    let current = headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if read
        .if_none_match
        .as_deref()
        .is_some_and(|held| etag_matches(held, current))
    {
        let (mut parts, _) = response.into_parts();
        parts.status = http::StatusCode::NOT_MODIFIED;
        parts.headers.remove(http::header::CONTENT_TYPE);
        return Response::from_parts(parts, Body::Empty);
    }
    response
}

pub fn response_body(response: &Response<Body>) -> &[u8] {
    match response.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// A short digest of a response body: 80 bits of SHA-256, enough that two
/// versions of one resource never share a tag.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..10])
}

/// `If-None-Match` holds `*` or a list of tags; they are compared weakly
/// (RFC 9110 13.1.2): `W/"x"` matches `"x"`.
fn etag_matches(held: &str, current: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let current = opaque(current);
    !current.is_empty()
        && held
            .split(',')
            .any(|t| t.trim() == "*" || opaque(t) == current)
}

async fn edge(app: &App, req: Request, route: Route, request_id: &str) -> Result<Call, Error> {
    let path = req.raw_http_path().to_owned();
    // API Gateway routes `/a` and `/a/` alike; the contract's URLs end in a
    // slash, so the bare form is redirected rather than served twice.
    if !path.ends_with('/') {
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        return Err(Error::AddSlash {
            location: format!("{path}/{query}"),
        });
    }
    let params = match_path(route.pattern, &path).ok_or(Error::NotFound)?;
    let query = req.query_string_parameters();
    let token = token(&req, route.query_token)?;
    let principal = app.authenticate(&token).await?;
    principal.require_on(route.scope, route.operation, None, route.subject())?;
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::TooLarge(
            "The request body is larger than 6 MB.".into(),
        ));
    }
    Ok(Call {
        request_id: request_id.to_owned(),
        principal,
        params,
        query,
        headers: parts.headers,
        body,
        route,
    })
}

/// Whether `path` (with or without its trailing slash) fits `pattern`.
pub fn path_matches(pattern: &'static str, path: &str) -> bool {
    match_path(pattern, path).is_some()
}

/// Matches `/v2/a/{x}/` against the path's tail from `/v2/` on (a stage
/// prefix before it is ignored), decoding parameters.
fn match_path(pattern: &'static str, path: &str) -> Option<HashMap<&'static str, String>> {
    let tail = &path[path.find("/v2/")?..];
    let want: Vec<&'static str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = tail.trim_matches('/').split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (w, g) in want.into_iter().zip(got) {
        if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            let value = percent_encoding::percent_decode_str(g).decode_utf8().ok()?;
            params.insert(name, value.into_owned());
        } else if w != g {
            return None;
        }
    }
    Some(params)
}

fn token(req: &Request, allow_query: bool) -> Result<Token, Error> {
    let headers = req.headers();
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| Error::InvalidToken)?;
        let (scheme, rest) = v.trim().split_once(' ').ok_or(Error::InvalidToken)?;
        if !scheme.eq_ignore_ascii_case("token") {
            return Err(Error::InvalidToken);
        }
        return Token::parse(rest).ok_or(Error::InvalidToken);
    }
    if let Some(v) = headers.get("x-auth-token") {
        return v
            .to_str()
            .ok()
            .and_then(Token::parse)
            .ok_or(Error::InvalidToken);
    }
    if allow_query {
        if let Some(v) = req
            .query_string_parameters_ref()
            .and_then(|q| q.first("auth_token"))
        {
            return Token::parse(v).ok_or(Error::InvalidToken);
        }
    }
    Err(Error::Unauthenticated)
}

pub fn json_response(status: u16, body: &impl Serialize) -> Response<Body> {
    json_text(
        status,
        serde_json::to_string(body).expect("responses serialize"),
    )
}

/// A response of JSON already written (an idempotent replay's stored answer).
pub fn json_text(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

/// A write's tag: the version it left (`"3"`), what `If-Match` compares.
pub fn with_etag(response: Response<Body>, version: u64) -> Response<Body> {
    set_etag(response, crate::ids::Version(version).etag())
}

/// A read of one item whose body shows more than its version (expanded
/// references, preview's media status, a schema changed since the item's
/// write, a `?keys=` read) is tagged `"<version>-<digest of the body>"`:
/// the version for `If-Match` (which reads the part before the `-`), the
/// digest for `If-None-Match`, which then changes exactly when the bytes
/// served do, whichever instance renders them. (A digest of the schema's
/// `updated_at` alone would miss the other causes.)
pub fn with_read_etag(response: Response<Body>, version: u64) -> Response<Body> {
    let tag = format!("\"{version}-{}\"", digest(response_body(&response)));
    set_etag(response, tag)
}

pub fn set_etag(mut response: Response<Body>, etag: String) -> Response<Body> {
    response.headers_mut().insert(
        http::header::ETAG,
        etag.parse()
            .expect("digits, hex and quotes are a valid header"),
    );
    response
}

pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .expect("static response parts are valid")
}

pub fn error_response(e: &Error, request_id: &str) -> Response<Body> {
    let status = e.status();
    let message = e.to_string();
    let detail = crate::error::clip(&message, crate::error::DETAIL_CHARS);
    if status < 500 {
        tracing::info!(status, detail = %detail, "refused");
    }
    let detail = detail.into_owned();
    let mut response = match e {
        Error::Invalid(errors) => {
            let (errors, errors_total) = crate::error::shown_errors(errors);
            let body = refusals::Invalid {
                detail,
                errors,
                errors_total,
            };
            json_response(status, &body)
        }
        Error::Referenced { by, total } => {
            let body = refusals::Referenced {
                detail,
                referenced_by: by.clone(),
                referenced_by_total: *total,
            };
            json_response(status, &body)
        }
        Error::VersionMismatch { current, .. } => {
            let body = refusals::VersionMismatch {
                detail,
                current_version: *current,
            };
            json_response(status, &body)
        }
        Error::Internal(source) => {
            tracing::error!(error = %source, debug = ?source, "internal error");
            let body = refusals::Internal {
                detail: refusals::InternalError::InternalError,
                request_id: request_id.to_owned(),
            };
            json_response(status, &body)
        }
        _ => json_response(status, &refusals::Detail { detail }),
    };
    if let Error::AddSlash { location } = e {
        if let Ok(v) = location.parse() {
            response.headers_mut().insert(http::header::LOCATION, v);
        }
    }
    if let Error::Throttled = e {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    response
}

#[cfg(test)]
mod tests;
