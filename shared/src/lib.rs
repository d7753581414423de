//! Folio: a serverless Collections API. This crate holds everything the
//! Lambda binaries in `functions/` run; each binary only wires one handler.
//! Its modules stand on three floors, and a module uses only its own floor
//! and those below (the `floors` test keeps it so, until the floors become
//! crates of their own):
//!
//! 1. The domain, with no AWS in it:
//!    - `ids`, `error`, `clock` (stored time), `settings` (every
//!      environment variable, read once as a binary starts);
//!    - `auth`: tokens and scopes;
//!    - `schema`, `content`: collection definitions, item validation and
//!      rendering, value order (`content::order`);
//!    - `event`: change events and their ids;
//!    - `webhooks`: endpoints, payload, secrets.
//! 2. `store`: DynamoDB keys and the conditional writes that keep the invariants.
//! 3. The application:
//!    - `app`: per-instance state (configuration, the store, caches);
//!    - `aws`: the AWS SDK's set-up (TLS, timeouts);
//!    - `http`: the HTTP edge (trailing slash, auth, bodies, error mapping);
//!    - `api`: one module per endpoint family (what each binary serves);
//!    - `events`: the stream relay, the worker and the webhook deliverer;
//!    - `outbound`: HTTP to users' URLs behind the address guard;
//!    - `webhooks::send`: signing and sending a delivery;
//!    - `media`: media ingest (download, check, store).

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod content;
pub mod error;
pub mod event;
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

#[cfg(test)]
mod floors {
    /// The floor of each module (by its path under `src/`, the longest
    /// match wins): 1 the domain, 2 the store, 3 the application.
    const FLOORS: &[(&str, u8)] = &[
        ("ids", 1),
        ("error", 1),
        ("clock", 1),
        ("settings", 1),
        ("auth", 1),
        ("schema", 1),
        ("content", 1),
        ("event", 1),
        ("webhooks", 1),
        ("store", 2),
        ("app", 3),
        ("aws", 3),
        ("http", 3),
        ("api", 3),
        ("events", 3),
        ("outbound", 3),
        ("webhooks/send", 3),
        ("media", 3),
    ];

    fn floor(path: &str) -> Option<u8> {
        let path = path.trim_end_matches(".rs").trim_end_matches("/mod");
        FLOORS
            .iter()
            .filter(|(m, _)| path == *m || path.starts_with(&format!("{m}/")))
            .max_by_key(|(m, _)| m.len())
            .map(|(_, f)| *f)
    }

    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_uses_a_module_on_a_floor_above_its_own() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut upward = Vec::new();
        for file in &files {
            let rel = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "lib.rs" {
                continue;
            }
            let own = floor(&rel).unwrap_or_else(|| panic!("{rel} has no floor in FLOORS"));
            let text = std::fs::read_to_string(file).unwrap();
            // Tests may use anything: only the code above them counts.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let path: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let used = path.split("::").take(2).collect::<Vec<_>>().join("/");
                let Some(theirs) = floor(&used) else { continue };
                if theirs > own {
                    upward.push(format!(
                        "{rel} (floor {own}) uses crate::{path} (floor {theirs})"
                    ));
                }
            }
        }
        assert!(upward.is_empty(), "{}", upward.join("\n"));
        // The check sees what it must: a known upward use is caught.
        assert_eq!(floor("store/webhooks.rs"), Some(2));
        assert_eq!(floor("webhooks/send.rs"), Some(3));
        assert_eq!(floor("webhooks/secret.rs"), Some(1));
    }
}
