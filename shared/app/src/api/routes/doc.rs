//! What the OpenAPI document (`api/openapi`) says of an endpoint beyond
//! its route, and the refusals rows share.

/// What the OpenAPI document says of an endpoint beyond its route.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub summary: &'static str,
    pub tag: &'static str,
    /// Its operation id when not the function's name (a function's second path).
    pub operation_id: Option<&'static str>,
    /// Path parameters this operation declares otherwise than its path
    /// does, then query parameters and headers, by their names in
    /// `components.parameters`.
    pub path: &'static [&'static str],
    pub query: &'static [&'static str],
    pub headers: &'static [&'static str],
    /// The request body's schema.
    pub body: Option<&'static str>,
    /// Whether the body may be left out (it is required otherwise).
    pub body_optional: bool,
    /// Success status and the schema of its body (`None`: no body).
    pub ok: (u16, Option<&'static str>),
    /// The schema of a `201 Created` besides `ok` (a PUT that creates).
    pub created: Option<&'static str>,
    /// Statuses besides 308, 401, 403, 404, 429 and 500.
    pub errors: &'static [(u16, &'static str)],
}

pub(super) const fn doc(
    summary: &'static str,
    tag: &'static str,
    ok: (u16, Option<&'static str>),
) -> Doc {
    Doc {
        summary,
        tag,
        operation_id: None,
        path: &[],
        query: &[],
        headers: &[],
        body: None,
        body_optional: false,
        ok,
        created: None,
        errors: &[],
    }
}

pub(super) const INVALID: (u16, &str) = (400, "Invalid");
pub(super) const CONFLICT: (u16, &str) = (409, "Error");
pub(super) const TOO_LARGE: (u16, &str) = (413, "Error");
pub(super) const REFUSED: (u16, &str) = (400, "Error");
pub(super) const STALE: (u16, &str) = (412, "VersionMismatch");
