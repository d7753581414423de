//! Folio: a serverless Collections API. This crate is the application
//! the Lambda binaries in `functions/` run; each binary only wires one
//! handler. It stands on two crates below it, which cannot use it:
//!
//! 1. `folio-core`, the domain, with no AWS in it: `ids`, `error`, `clock`,
//!    `settings`, `auth`, `schema`, `content`, `event`, `webhooks`;
//! 2. `folio-store`: DynamoDB keys and the conditional writes that keep
//!    the invariants.
//!
//! Both are re-exported here under their usual names (`folio::ids`,
//! `folio::store`), so a binary, a test or a tool names one crate. This
//! crate adds:
//! - `app`: per-instance state (configuration, the store, caches);
//! - `aws`: the AWS SDK's set-up (TLS, timeouts);
//! - `http`: the HTTP edge (trailing slash, auth, bodies, error mapping);
//! - `api`: one module per endpoint family (what each binary serves);
//! - `events`: the stream relay, the worker and the webhook deliverer;
//! - `outbound`: HTTP to users' URLs behind the address guard;
//! - `webhooks::send`: signing and sending a delivery;
//! - `reads`: what a read shows: a listing planned (index or memory, count,
//!   budgets) and run, references expanded to `levels`;
//! - `media`: media ingest (download, check, store).

pub use folio_core::{auth, clock, content, error, event, ids, schedule, schema, settings};
pub use folio_store as store;

pub mod api;
pub mod app;
pub mod aws;
pub mod events;
pub mod http;
pub mod media;
pub mod outbound;
pub mod reads;
pub mod webhooks;

pub use app::{App, Config};
pub use error::Error;

/// Starts JSON or text logs as `AWS_LAMBDA_LOG_FORMAT` says.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}
