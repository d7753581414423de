//! Webhooks as the application sees them: the domain's endpoints, payload
//! and secrets (`folio_core::webhooks`), plus `send`, which checks a URL
//! and signs and sends one delivery through the address guard.

pub use folio_core::webhooks::*;

pub mod send;
