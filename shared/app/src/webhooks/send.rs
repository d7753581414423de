//! Sending: a spec's URL checked as deliveries will reach it, and one
//! delivery signed (Standard Webhooks, with the previous secret too during
//! a rotation's overlap) and sent through the address guard.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;

use super::{SecretKey, Webhook, WebhookSpec, ALL_EVENTS, MAX_COLLECTIONS, MAX_EVENTS, MAX_URL};
use crate::error::{Error, FieldErrors};
use crate::event::EventType;
use crate::ids::CollectionKey;
use crate::outbound::{Guard, Outbound, OutboundError, Timeouts};
use crate::settings::{self, Env};

/// Checks a spec; `guard` decides which URLs may be registered (the one
/// deliveries use, so a URL accepted here is one the deliverer may call).
pub async fn validate(spec: &WebhookSpec, guard: &Guard) -> Result<Vec<CollectionKey>, Error> {
    let mut errors = FieldErrors::new();
    let mut err = |k: &str, m: String| errors.entry(k.to_owned()).or_default().push(m);
    // A name is resolved last, and only for an otherwise valid spec.
    let mut resolve = None;
    if spec.url.len() > MAX_URL {
        err("url", format!("At most {MAX_URL} characters."));
    } else {
        match guard.check_url(&spec.url) {
            Err(e) => err("url", format!("This URL cannot receive webhooks: {e}.")),
            Ok(url) if url.scheme() != "https" && !guard.is_permissive() => {
                err("url", "Webhook URLs must use https.".into())
            }
            Ok(url) => {
                if let Some(url::Host::Domain(host)) = url.host() {
                    resolve = Some(host.to_owned());
                }
            }
        }
    }
    // A list past its bound is refused as a whole, before any entry is
    // checked: a body can hold hundreds of thousands of them.
    let events: &[String] = if spec.events.is_empty() || spec.events.len() > MAX_EVENTS {
        err(
            "events",
            format!("Name 1 to {MAX_EVENTS} event types, or \"collectionitem.*\"."),
        );
        &[]
    } else {
        &spec.events
    };
    for e in events {
        let known = e == ALL_EVENTS
            || serde_json::from_value::<EventType>(Value::String(e.clone())).is_ok();
        if !known {
            err(
                "events",
                format!(
                    "\"{}\" is not an event type.",
                    e.chars().take(80).collect::<String>()
                ),
            );
        }
    }
    let mut collections = Vec::new();
    if let Some(list) = &spec.collections {
        if list.is_empty() || list.len() > MAX_COLLECTIONS {
            err(
                "collections",
                format!("Between 1 and {MAX_COLLECTIONS} collection keys, or null for all."),
            );
        } else {
            for c in list {
                match CollectionKey::parse(c) {
                    Ok(k) => collections.push(k),
                    Err(e) => err("collections", e.to_string()),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    if let Some(host) = resolve {
        if let Err(e) = guard.resolve(&host).await {
            return Err(Error::field(
                "url",
                format!("This URL cannot receive webhooks: {e}."),
            ));
        }
    }
    Ok(collections)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx.
    Delivered(u16),
    /// `410 Gone`: the receiver asks never to be called again.
    Gone,
    /// Any other status (a redirect included).
    Status(u16),
    /// No answer: a timeout, a refused connection, a refused address.
    Error(String),
}

impl Outcome {
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Outcome::Delivered(s) | Outcome::Status(s) => Some(*s),
            Outcome::Gone => Some(410),
            Outcome::Error(_) => None,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// One signed attempt, as the deliveries log keeps it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub outcome: Outcome,
    pub duration: Duration,
}

/// Signs and sends deliveries.
#[derive(Debug, Clone)]
pub struct Sender {
    outbound: Outbound,
    key: SecretKey,
}

/// The deliverer's outbound settings, from the environment:
/// `FOLIO_WEBHOOK_CONNECT_TIMEOUT_SECONDS` (default 3),
/// `FOLIO_WEBHOOK_TIMEOUT_SECONDS` (default 10, the whole attempt).
pub fn timeouts_from_env(env: &Env) -> Result<Timeouts, Error> {
    Ok(Timeouts {
        connect: env.seconds(
            "FOLIO_WEBHOOK_CONNECT_TIMEOUT_SECONDS",
            settings::WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        )?,
        total: env.seconds(
            "FOLIO_WEBHOOK_TIMEOUT_SECONDS",
            settings::WEBHOOK_TIMEOUT_SECONDS,
        )?,
    })
}

impl Sender {
    pub fn new(key: SecretKey, guard: Guard, timeouts: Timeouts) -> Result<Self, Error> {
        let outbound = Outbound::new(
            guard,
            timeouts,
            concat!("Folio-Webhooks/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(Error::internal)?;
        Ok(Sender { outbound, key })
    }

    /// `FOLIO_WEBHOOK_KEY`, `FOLIO_OUTBOUND_ALLOW` and `timeouts_from_env`.
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        let guard = Guard::from_env(env)?;
        Sender::new(SecretKey::from_env(env)?, guard, timeouts_from_env(env)?)
    }

    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    pub fn guard(&self) -> &Guard {
        self.outbound.guard()
    }

    /// The `webhook-signature` header for `body`: one `v1,…` per secret in use.
    pub fn signature(
        &self,
        hook: &Webhook,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, Error> {
        let context = hook.seal_context();
        let mut secrets = vec![self.key.open(&hook.secret, &context)?];
        if let (Some(prev), Some(until)) = (&hook.previous_secret, hook.previous_until) {
            if until > timestamp {
                secrets.push(self.key.open(prev, &context)?);
            }
        }
        let mut parts = Vec::new();
        for s in secrets {
            let signer = standardwebhooks::Webhook::new(s.expose())
                .map_err(|e| Error::internal(e.to_string()))?;
            parts.push(
                signer
                    .sign(msg_id, timestamp, body)
                    .map_err(|e| Error::internal(e.to_string()))?,
            );
        }
        Ok(parts.join(" "))
    }

    /// Sends `body` to `hook`, signed as message `msg_id`, now.
    pub async fn send(&self, hook: &Webhook, msg_id: &str, body: &[u8]) -> Result<Sent, Error> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = self.signature(hook, msg_id, timestamp, body)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let value = |s: &str| HeaderValue::from_str(s).map_err(Error::internal);
        headers.insert("webhook-id", value(msg_id)?);
        headers.insert("webhook-timestamp", value(&timestamp.to_string())?);
        headers.insert("webhook-signature", value(&signature)?);
        let started = Instant::now();
        let result = self
            .outbound
            .send(Method::POST, &hook.url, headers, body.to_vec())
            .await;
        let outcome = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => Outcome::Delivered(status),
                    410 => Outcome::Gone,
                    s => Outcome::Status(s),
                }
            }
            Err(OutboundError::Refused(r)) => Outcome::Error(format!("refused: {r}")),
            Err(e) => Outcome::Error(e.to_string()),
        };
        Ok(Sent {
            outcome,
            duration: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::Secret;
    use folio_core::webhooks::testing::hook;

    fn default_timeouts() -> Timeouts {
        timeouts_from_env(&Env::with(|_| None)).unwrap()
    }

    #[test]
    fn a_signature_verifies_with_the_standard_library_and_a_flipped_byte_does_not() {
        let key = SecretKey::parse(&SecretKey::generate_b64()).unwrap();
        let secret = Secret::generate();
        let h = hook(&key, &secret);
        let sender = Sender::new(key, Guard::strict(), default_timeouts()).unwrap();
        let body = br#"{"data":{}}"#;
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let sig = sender.signature(&h, "msg_1", ts, body).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        headers.insert("webhook-signature", sig.parse().unwrap());
        let verifier = standardwebhooks::Webhook::new(secret.expose()).unwrap();
        verifier.verify(body, &headers).unwrap();
        let mut flipped = body.to_vec();
        flipped[3] ^= 1;
        assert!(verifier.verify(&flipped, &headers).is_err());
    }

    #[test]
    fn after_a_rotation_both_secrets_sign_until_the_overlap_ends() {
        let key = SecretKey::parse(&SecretKey::generate_b64()).unwrap();
        let old = Secret::generate();
        let new = Secret::generate();
        let mut h = hook(&key, &new);
        h.previous_secret = Some(key.seal(&old, &h.seal_context()));
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        h.previous_until = Some(ts + 60);
        let sender = Sender::new(key, Guard::strict(), default_timeouts()).unwrap();
        let sig = sender.signature(&h, "msg_1", ts, b"{}").unwrap();
        assert_eq!(sig.split(' ').count(), 2);
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        headers.insert("webhook-signature", sig.parse().unwrap());
        for s in [&old, &new] {
            standardwebhooks::Webhook::new(s.expose())
                .unwrap()
                .verify(b"{}", &headers)
                .unwrap();
        }
        h.previous_until = Some(ts - 1);
        assert_eq!(
            sender
                .signature(&h, "msg_1", ts, b"{}")
                .unwrap()
                .split(' ')
                .count(),
            1
        );
    }
}
