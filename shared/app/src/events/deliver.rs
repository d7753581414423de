//! The deliverer: the deliveries queue → one signed webhook per message.
//! The worker puts one message per (event, endpoint) on that queue, so a
//! failing or slow endpoint delays and repeats nothing for another.
//!
//! Per message: read the endpoint (gone, disabled or no longer interested:
//! done, nothing sent); claim the job `webhook:<endpoint>` of the event
//! (a delivery already made, or one in flight elsewhere, is not made
//! again); send; log the attempt. A 2xx finishes it; `410 Gone` disables
//! the endpoint and finishes it; any other answer releases the claim and
//! sets the message's visibility timeout to the next backoff (exponential,
//! full jitter over its upper half, `FOLIO_WEBHOOK_RETRY_BASE_SECONDS`
//! doubling up to 8 h), so the retries of one message span about a day
//! before the queue's `maxReceiveCount` (`MAX_RECEIVES`) moves it to the DLQ.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};

use crate::error::{Causes, Error};
use crate::event::Event;
use crate::ids::WebhookId;
use crate::settings::{self, Env};
use crate::store::jobs::Claim;
use crate::store::webhooks::AttemptRecord;
use crate::store::Store;
use crate::webhooks::send::{Outcome, Sender};
use crate::webhooks::{delivery_id, payload};

/// Receives of one message before the queue dead-letters it (the
/// template's `maxReceiveCount` on the deliveries queue).
pub const MAX_RECEIVES: u32 = 12;
/// How long a message waits when another receive is making its delivery.
const BUSY_WAIT: Duration = Duration::from_secs(20);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8 * 3600);

/// A message on the deliveries queue: one event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub webhook_id: WebhookId,
    #[serde(flatten)]
    pub event: Event,
}

impl DeliveryMessage {
    /// The job record that makes this delivery happen once.
    pub fn job_key(&self) -> String {
        format!("webhook:{}", self.webhook_id)
    }
}

/// The wait before attempt `attempt + 1` after `attempt` failed: base ×
/// 2^(attempt−1), at most `MAX_BACKOFF`, then a random point in its upper
/// half (so endpoints that failed together do not retry together).
pub fn backoff(attempt: u32, base: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let full = base.saturating_mul(1 << exp).min(MAX_BACKOFF);
    let mut r = [0u8; 2];
    getrandom::fill(&mut r).expect("the OS random source");
    let fraction = 0.5 + 0.5 * (u16::from_le_bytes(r) as f64 / u16::MAX as f64);
    full.mul_f64(fraction)
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("not a delivery: {0}")]
    Poison(String),
    #[error("delivery {0} is being made by another receive")]
    Busy(String),
    #[error("attempt {attempt} failed: {outcome}")]
    Attempt { attempt: u32, outcome: String },
    #[error(transparent)]
    Store(#[from] Error),
}

#[derive(Debug, Clone)]
pub struct Deliverer {
    store: Store,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sender: Sender,
    lease: Duration,
    retry_base: Duration,
}

impl Deliverer {
    pub fn new(
        store: Store,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        sender: Sender,
        lease: Duration,
        retry_base: Duration,
    ) -> Self {
        Deliverer {
            store,
            sqs,
            queue_url,
            sender,
            lease,
            retry_base,
        }
    }

    /// `FOLIO_TABLE`, `FOLIO_DELIVERIES_QUEUE_URL`, `FOLIO_JOB_LEASE_SECONDS`,
    /// `FOLIO_WEBHOOK_RETRY_BASE_SECONDS`, and the settings of
    /// `webhooks::Sender::from_env`: all read as the function starts.
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::process();
        let table = env.required("FOLIO_TABLE")?;
        let queue = env.required("FOLIO_DELIVERIES_QUEUE_URL")?;
        let sender = Sender::from_env(&env)?;
        let lease = env.number("FOLIO_JOB_LEASE_SECONDS", settings::JOB_LEASE_SECONDS)?;
        let retry_base = env.number(
            "FOLIO_WEBHOOK_RETRY_BASE_SECONDS",
            settings::WEBHOOK_RETRY_BASE_SECONDS,
        )?;
        let sdk = crate::aws::sdk_config().await?;
        Ok(Deliverer::new(
            Store::new(crate::store::dynamodb_client(&sdk), table),
            aws_sdk_sqs::Client::new(&sdk),
            queue,
            sender,
            Duration::from_secs(lease),
            Duration::from_secs(retry_base),
        ))
    }

    /// Handles one batch: every message at once, each on its own.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        super::each_message(
            event,
            usize::MAX,
            |m| async move { self.handle_message(&m).await },
            |e| matches!(e, Failure::Busy(_) | Failure::Attempt { .. }),
        )
        .await
    }

    async fn handle_message(&self, m: &SqsMessage) -> Result<(), Failure> {
        let body = m.body.as_deref().unwrap_or_default();
        let message: DeliveryMessage =
            serde_json::from_str(body).map_err(|e| Failure::Poison(e.to_string()))?;
        let attempt: u32 = m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let e = &message.event;
        let Some(hook) = self.store.get_webhook(&e.org, &message.webhook_id).await? else {
            tracing::info!(webhook = %message.webhook_id, event_id = %e.event_id, "endpoint deleted; delivery dropped");
            return Ok(());
        };
        if !hook.wants(e) {
            tracing::info!(webhook = %hook.id, event_id = %e.event_id, enabled = hook.enabled, "endpoint disabled or no longer subscribed; delivery dropped");
            return Ok(());
        }
        let key = message.job_key();
        let runs = match self.store.claim_job(&e.event_id, &key, self.lease).await? {
            Claim::Done => return Ok(()),
            Claim::Busy => {
                // The other receive (or a manual retry) ends within the
                // deliverer's (or the API's) timeout.
                self.delay(m, BUSY_WAIT).await;
                return Err(Failure::Busy(key));
            }
            Claim::Claimed { runs } => runs,
        };
        let result = self.attempt(&hook, e, attempt).await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                self.release(&e.event_id, &key, runs).await;
                return Err(error.into());
            }
        };
        match outcome {
            Outcome::Delivered(_) => {
                self.finish(&e.event_id, &key, runs).await?;
                Ok(())
            }
            Outcome::Gone => {
                let reason = format!("The receiver answered 410 Gone at {}.", crate::clock::now());
                self.store
                    .disable_webhook(&e.org, &hook.id, &reason)
                    .await?;
                tracing::warn!(webhook = %hook.id, "receiver answered 410 Gone; endpoint disabled");
                self.finish(&e.event_id, &key, runs).await?;
                Ok(())
            }
            other => {
                self.release(&e.event_id, &key, runs).await;
                let wait = backoff(attempt, self.retry_base);
                self.delay(m, wait).await;
                Err(Failure::Attempt {
                    attempt,
                    outcome: match &other {
                        Outcome::Error(e) => e.clone(),
                        o => format!("status {}", o.status_code().unwrap_or_default()),
                    },
                })
            }
        }
    }

    /// Sends `event` to `hook` once, signed, and logs the attempt.
    async fn attempt(
        &self,
        hook: &crate::webhooks::Webhook,
        event: &Event,
        attempt: u32,
    ) -> Result<Outcome, Error> {
        let msg_id = delivery_id(&event.event_id, &hook.id);
        let body = serde_json::to_vec(&payload(event, &hook.url)).map_err(Error::internal)?;
        let sent = self.sender.send(hook, &msg_id, &body).await?;
        tracing::info!(
            webhook = %hook.id,
            event_id = %event.event_id,
            attempt,
            status = sent.outcome.status_code(),
            error = sent.outcome.error(),
            duration_ms = sent.duration.as_millis() as u64,
            "webhook attempt"
        );
        let record = AttemptRecord {
            delivery_id: msg_id,
            event_id: Some(event.event_id.clone()),
            event: event.kind.as_str().to_owned(),
            attempt,
            status_code: sent.outcome.status_code(),
            error: sent.outcome.error().map(str::to_owned),
            duration_ms: sent.duration.as_millis() as u64,
            at: crate::clock::now(),
            manual: None,
        };
        if let Err(e) = self.store.record_attempt(hook, &record, Some(event)).await {
            // The delivery stands; only its log line is missing.
            tracing::warn!(error = %Causes(&e), "could not log the attempt");
        }
        Ok(sent.outcome)
    }

    /// Marks this run's claim done. Another run holds the job only if this
    /// one outlived its lease; nothing is left to do then but say so.
    async fn finish(&self, event_id: &str, key: &str, runs: u64) -> Result<(), Error> {
        if !self.store.finish_claim(event_id, key, runs).await? {
            tracing::warn!(event_id = %event_id, job = key, "the delivery's lease ran out before it was made; another run holds it");
        }
        Ok(())
    }

    /// Hands this run's claim back (fenced: a claim since taken by another
    /// run, or a delivery since made by hand, stays as it is).
    async fn release(&self, event_id: &str, key: &str, runs: u64) {
        if let Err(e) = self.store.release_claim(event_id, key, runs).await {
            tracing::warn!(error = %Causes(&e), "could not release the delivery; its lease runs out");
        }
    }

    /// Hides the message for `wait`: its next attempt comes after that.
    async fn delay(&self, m: &SqsMessage, wait: Duration) {
        let Some(handle) = m.receipt_handle.as_deref() else {
            return;
        };
        let result = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(wait.as_secs().clamp(1, 12 * 3600) as i32)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "could not set the retry delay; the queue's default applies");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_the_retries_span_about_a_day() {
        let base = Duration::from_secs(60);
        for attempt in 1..=MAX_RECEIVES {
            let full = base.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
            for _ in 0..20 {
                let d = backoff(attempt, base);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        // The waits between the first try and the last receive.
        let longest: Duration = (1..MAX_RECEIVES)
            .map(|a| base.saturating_mul(1 << (a - 1)).min(MAX_BACKOFF))
            .sum();
        let hours = longest.as_secs_f64() / 3600.0;
        assert!((20.0..=30.0).contains(&hours), "at most {hours:.1} h");
        assert!(hours / 2.0 >= 10.0, "at least {:.1} h", hours / 2.0);
    }

    #[test]
    fn a_delivery_message_is_an_event_and_an_endpoint() {
        let m = DeliveryMessage {
            webhook_id: WebhookId::parse("site").unwrap(),
            event: Event::new(
                &crate::ids::OrgId::parse("acme").unwrap(),
                &crate::ids::CollectionKey::parse("team").unwrap(),
                crate::ids::ItemId::parse("01JF0000000000000000000000").unwrap(),
                2,
                crate::event::EventType::Published,
            ),
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains(r#""webhook_id":"site""#), "{text}");
        assert_eq!(serde_json::from_str::<DeliveryMessage>(&text).unwrap(), m);
        assert_eq!(m.job_key(), "webhook:site");
    }
}
