//! Folio: a serverless Collections API. This crate holds everything the
//! Lambda binaries in `functions/` run; each binary only wires one handler.
//!
//! - `api`: one module per endpoint family (what each binary serves)
//! - `http`: the HTTP edge (trailing slash, auth, bodies, error mapping)
//! - `auth`: tokens and scopes
//! - `schema`, `content`: collection definitions, item validation and rendering
//! - `store`: DynamoDB keys and the conditional writes that keep the invariants
//! - `events`: change events and the SQS publisher
//! - `outbound`: HTTP to users' URLs behind the address guard
//! - `webhooks`: endpoints, payload, signing
//! - `media`: media ingest (download, check, store)
//! - `app`: per-instance state: configuration, the store and caches
//! - `settings`: every environment variable, read once as a binary starts
//! - `aws`: the AWS SDK's set-up (TLS, timeouts)

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod content;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
pub mod media;
pub mod outbound;
pub mod schema;
pub mod settings;
pub mod store;
pub mod webhooks;

pub use app::{App, Config};
pub use error::Error;

/// Starts JSON or text logs as `AWS_LAMBDA_LOG_FORMAT` says.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}
