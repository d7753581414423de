//! The one domain error type. Handlers return it; `http::response` maps it to
//! a status code and a `{"detail"}` body in exactly one place.

use std::collections::BTreeMap;

use serde::Serialize;

/// Per-field validation messages, keyed like `name` or `en.name`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Validation messages a response shows; `errors_total` counts them all,
/// so a body of a million bad entries answers small (and fast).
pub const ERRORS_SHOWN: usize = 100;
/// The longest field key or message a response echoes: a key may be the
/// client's own (an unknown field) and a message may quote a value.
pub const ECHO_CHARS: usize = 200;
/// The longest `detail`: a parser's message quotes the offending input
/// (an unknown field's name), which may be megabytes long. A 409 naming
/// the most restrict targets an item can hold stays well under it.
pub const DETAIL_CHARS: usize = 4000;

/// `s`, cut to `max` characters (with `…` when cut).
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some((at, _)) => format!("{}…", &s[..at]).into(),
    }
}

/// What a response shows of `errors`: the first `ERRORS_SHOWN` messages in
/// key order, keys and messages clipped, and the count of them all.
pub fn shown_errors(errors: &FieldErrors) -> (FieldErrors, usize) {
    let total = errors.values().map(Vec::len).sum();
    let mut shown = FieldErrors::new();
    let mut room = ERRORS_SHOWN;
    for (key, messages) in errors {
        if room == 0 {
            break;
        }
        let take = messages.len().min(room);
        room -= take;
        // Two long keys clipped alike share one entry: their messages join.
        shown
            .entry(clip(key, ECHO_CHARS).into_owned())
            .or_default()
            .extend(
                messages[..take]
                    .iter()
                    .map(|m| clip(m, ECHO_CHARS).into_owned()),
            );
    }
    (shown, total)
}

/// A live item that points at another one through a `restrict` reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct Referrer {
    pub collection: String,
    pub id: String,
    pub field: String,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Authentication credentials were not provided")]
    Unauthenticated,
    #[error("Invalid token")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("Validation failed")]
    Invalid(FieldErrors),
    /// `by` names the first referrers; `total` counts them all.
    #[error("This content object is used in another content object.")]
    Referenced { by: Vec<Referrer>, total: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("The item has changed since version {expected}; it is now at version {current}.")]
    VersionMismatch { expected: u64, current: u64 },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    /// DynamoDB refused for capacity after the SDK's own retries: the
    /// caller may try again shortly (429 with `Retry-After`).
    #[error("Too many requests right now; retry in a moment.")]
    Throttled,
    /// A 308 to the slashed URL; not a failure, but it ends the request early.
    #[error("This endpoint's URL ends with a slash: use {location}")]
    AddSlash { location: String },
    #[error("Internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    pub fn internal(e: impl Into<BoxError>) -> Self {
        Error::Internal(e.into())
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }

    /// One field error as a validation failure.
    pub fn field(key: impl Into<String>, msg: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(key.into(), vec![msg.into()]);
        Error::Invalid(errors)
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::Unauthenticated | Error::InvalidToken => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound => 404,
            Error::BadRequest(_) | Error::Invalid(_) | Error::Referenced { .. } => 400,
            Error::Conflict(_) => 409,
            Error::VersionMismatch { .. } => 412,
            Error::TooLarge(_) => 413,
            Error::Unprocessable(_) => 422,
            Error::Throttled => 429,
            Error::AddSlash { .. } => 308,
            Error::Internal(_) => 500,
        }
    }
}

/// An error and its causes, `outer: inner: …`, for log lines. A response
/// shows an `Error::Internal` as "Internal error" only; what went wrong is
/// in its sources, and a log without them says nothing. A cause whose text
/// its outer error already shows is not repeated. For logs, never bodies.
pub struct Causes<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.contains(&text) {
                shown.push_str(": ");
                shown.push_str(&text);
            }
            source = cause.source();
        }
        f.write_str(&shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_errors_are_the_first_hundred_clipped_with_the_total() {
        let mut errors = FieldErrors::new();
        for i in 0..150 {
            errors.insert(
                format!("f{i:03}{}", "x".repeat(1000)),
                vec!["Unknown field.".into()],
            );
        }
        errors.insert("name".into(), vec!["y".repeat(1000), "z".into()]);
        let (shown, total) = shown_errors(&errors);
        assert_eq!(total, 152);
        assert_eq!(shown.values().map(Vec::len).sum::<usize>(), ERRORS_SHOWN);
        assert!(shown.keys().all(|k| k.chars().count() <= ECHO_CHARS + 1));
        assert!(shown.contains_key(&format!("f000{}…", "x".repeat(ECHO_CHARS - 4))));
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("héllo", 5), "héllo");
    }

    #[test]
    fn a_log_shows_a_plain_errors_causes() {
        let plain = Error::internal("FOLIO_TABLE is not set");
        assert_eq!(plain.to_string(), "Internal error", "what a body may say");
        assert_eq!(
            Causes(&plain).to_string(),
            "Internal error: FOLIO_TABLE is not set"
        );
        assert_eq!(Causes(&Error::NotFound).to_string(), "Not found.");
    }
}
