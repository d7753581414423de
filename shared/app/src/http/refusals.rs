//! The bodies of refusals, each a type that `error_response` serializes
//! and the OpenAPI document describes (`ToSchema`). A status's schema
//! covers all its refusals: beside the named one, a plain `{"detail"}` may
//! answer with the same status (a body that does not parse, say), so only
//! `detail` is required.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Referrer;

/// `{"detail": …}`: every refusal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct Detail {
    pub detail: String,
}

/// A 400 naming what failed, per field.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invalid {
    pub detail: String,
    /// Messages per field (`en.name` when localized): the first 100.
    #[schema(required = false)]
    pub errors: BTreeMap<String, Vec<String>>,
    /// How many messages there are in all.
    #[schema(required = false)]
    pub errors_total: usize,
}

/// A delete refused while `restrict` references hold the item.
#[derive(Debug, Serialize, ToSchema)]
pub struct Referenced {
    pub detail: String,
    /// The first referrers, in order.
    #[schema(required = false)]
    pub referenced_by: Vec<Referrer>,
    #[schema(required = false)]
    pub referenced_by_total: u64,
}

/// A 412: `If-Match` named another version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionMismatch {
    pub detail: String,
    #[schema(required = false)]
    pub current_version: u64,
}

/// A 500: what went wrong is in the log under `request_id`, never here.
#[derive(Debug, Serialize, ToSchema)]
pub struct Internal {
    pub detail: InternalError,
    pub request_id: String,
}

/// The one `detail` of a 500.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum InternalError {
    #[serde(rename = "Internal error")]
    InternalError,
}
