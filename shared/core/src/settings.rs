//! Settings from the environment: every variable Folio reads is read here,
//! once per binary as it starts, into the typed settings of what it builds
//! (`app::Config`, the worker, the deliverer, the relay, media ingest,
//! webhook sending, the AWS SDK's timeouts). A required variable that is
//! missing, or any value that does not parse, stops the start with an error
//! naming the variable: never a silent default. Each setting's one default
//! is a constant below.

use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// `FOLIO_JOB_LEASE_SECONDS`: how long a claim on a job holds; above the
/// worker's 60 s and the deliverer's 15 s timeouts, so a running job is
/// never claimed twice.
pub const JOB_LEASE_SECONDS: u64 = 90;
/// `FOLIO_SCHEMA_CACHE_SECONDS`
pub const SCHEMA_CACHE_SECONDS: u64 = 30;
/// `FOLIO_TOKEN_CACHE_SECONDS`
pub const TOKEN_CACHE_SECONDS: u64 = 60;
/// `FOLIO_RETENTION_DAYS`
pub const RETENTION_DAYS: u64 = 30;
/// `FOLIO_VERSIONS_KEEP`: the newest versions of each item the worker
/// keeps, besides its published version and its draft.
pub const VERSIONS_KEEP: u64 = 100;
/// `FOLIO_SCHEDULE_MIN_LEAD_SECONDS`: how far ahead a schedule's `at`
/// must be (`make dev` sets 1).
pub const SCHEDULE_MIN_LEAD_SECONDS: u64 = 60;
/// `FOLIO_MEMORY_LIST_MAX_ITEMS`
pub const MEMORY_LIST_MAX_ITEMS: u64 = 10_000;
/// `FOLIO_WEBHOOKS_PER_ORG`
pub const WEBHOOKS_PER_ORG: u32 = 50;
/// `FOLIO_WEBHOOK_RETRY_BASE_SECONDS`
pub const WEBHOOK_RETRY_BASE_SECONDS: u64 = 60;
/// `FOLIO_WEBHOOK_CONNECT_TIMEOUT_SECONDS`, `FOLIO_WEBHOOK_TIMEOUT_SECONDS`
pub const WEBHOOK_CONNECT_TIMEOUT_SECONDS: f64 = 3.0;
pub const WEBHOOK_TIMEOUT_SECONDS: f64 = 10.0;
/// `FOLIO_MEDIA_MAX_BYTES`, `FOLIO_MEDIA_TIMEOUT_SECONDS`
pub const MEDIA_MAX_BYTES: u64 = 20 * 1024 * 1024;
pub const MEDIA_TIMEOUT_SECONDS: f64 = 15.0;
/// `FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS`, `FOLIO_AWS_OPERATION_TIMEOUT_SECONDS`
pub const AWS_ATTEMPT_TIMEOUT_SECONDS: f64 = 5.0;
pub const AWS_OPERATION_TIMEOUT_SECONDS: f64 = 9.0;

/// Reads one variable's value.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Where settings are read from: the process environment, or (in tests)
/// any lookup.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl Env<'static> {
    /// The process environment. A variable set but empty counts as absent
    /// (a template parameter left blank).
    pub fn process() -> Self {
        Env::with(|name| std::env::var(name).ok())
    }
}

impl<'a> Env<'a> {
    pub fn with(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Env {
            lookup: Box::new(lookup),
        }
    }

    /// The value of `name`, if it is set to something.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`; missing stops the start.
    pub fn required(&self, name: &str) -> Result<String, Error> {
        self.optional(name)
            .ok_or_else(|| Error::internal(format!("{name} is not set")))
    }

    /// A number (`u64`, `u32`, `usize`…), `default` when unset.
    pub fn number<T: FromStr>(&self, name: &str, default: T) -> Result<T, Error> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                Error::internal(format!(
                    "{name} must be a whole number in range, not {:?}",
                    clip(&v)
                ))
            }),
        }
    }

    /// A positive number of seconds (fractions allowed), `default` when unset.
    pub fn seconds(&self, name: &str, default: f64) -> Result<Duration, Error> {
        let secs = match self.optional(name) {
            None => default,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
                .ok_or_else(|| {
                    Error::internal(format!(
                        "{name} must be a positive number of seconds, not {:?}",
                        clip(&v)
                    ))
                })?,
        };
        Ok(Duration::from_secs_f64(secs))
    }
}

/// A value as an error shows it: settings hold no secret Folio reads as a
/// number, but a long value is cut.
fn clip(v: &str) -> String {
    v.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_malformed_or_missing_setting_names_its_variable_and_an_unset_one_takes_its_default() {
        let vars = env(&[
            ("FOLIO_JOB_LEASE_SECONDS", "ninety"),
            ("FOLIO_WEBHOOK_TIMEOUT_SECONDS", "-1"),
            ("FOLIO_MEMORY_LIST_MAX_ITEMS", "500"),
            ("FOLIO_MEDIA_TIMEOUT_SECONDS", "2.5"),
            ("FOLIO_TABLE", " "),
        ]);
        let e = Env::with(|n| vars.get(n).cloned());
        let msg = |r: Result<_, Error>| match r {
            Err(Error::Internal(source)) => source.to_string(),
            other => panic!("{:?}", other.map(|_: ()| ())),
        };
        let lease = msg(e.number::<u64>("FOLIO_JOB_LEASE_SECONDS", 90).map(|_| ()));
        assert!(lease.contains("FOLIO_JOB_LEASE_SECONDS"), "{lease}");
        let timeout = msg(e.seconds("FOLIO_WEBHOOK_TIMEOUT_SECONDS", 10.0).map(|_| ()));
        assert!(
            timeout.contains("FOLIO_WEBHOOK_TIMEOUT_SECONDS"),
            "{timeout}"
        );
        let table = msg(e.required("FOLIO_TABLE").map(|_| ()));
        assert!(table.contains("FOLIO_TABLE is not set"), "{table}");
        assert_eq!(
            e.number("FOLIO_MEMORY_LIST_MAX_ITEMS", 10_000usize)
                .unwrap(),
            500
        );
        assert_eq!(e.number("FOLIO_RETENTION_DAYS", 30u64).unwrap(), 30);
        assert_eq!(
            e.seconds("FOLIO_MEDIA_TIMEOUT_SECONDS", 15.0).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(
            e.seconds("FOLIO_WEBHOOK_CONNECT_TIMEOUT_SECONDS", 3.0)
                .unwrap(),
            Duration::from_secs(3)
        );
    }
}
