//! Folio's domain, with no AWS in it (its `Cargo.toml` names no `aws-*`
//! crate, and a test keeps it so). The store (`folio-store`) and the
//! application (`folio`) stand on it; nothing here may use them, and the
//! compiler sees to that.
//!
//! - `ids`, `error`, `clock` (stored time), `settings` (every environment
//!   variable, read once as a binary starts);
//! - `auth`: tokens and scopes;
//! - `schema`, `content`: collection definitions, item validation and
//!   rendering, value order (`content::order`);
//! - `event`: change events and their ids;
//! - `webhooks`: endpoints, payload, secrets.

pub mod auth;
pub mod clock;
pub mod content;
pub mod error;
pub mod event;
pub mod ids;
pub mod schedule;
pub mod schema;
pub mod settings;
pub mod webhooks;

pub use error::Error;

#[cfg(test)]
mod tests {
    #[test]
    fn the_domain_depends_on_no_aws_crate() {
        let manifest = include_str!("../Cargo.toml");
        let aws: Vec<&str> = manifest
            .lines()
            .filter(|l| l.trim_start().starts_with("aws"))
            .collect();
        assert!(aws.is_empty(), "{aws:?}");
        assert!(manifest.contains("[dependencies]"), "the manifest read");
    }
}
