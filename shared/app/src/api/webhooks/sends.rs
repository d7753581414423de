//! The two sends a request makes itself, so the caller sees the receiver's
//! answer: the test ping and a manual retry of one delivery (which claims
//! the delivery's job like any attempt, so it is sent once).

use lambda_http::{Body, Response};
use serde_json::json;

use super::{find, AttemptSent};
use crate::app::App;
use crate::auth::Operation;
use crate::error::Error;
use crate::http::{json_response, Call};
use crate::store::webhooks::AttemptRecord;
use crate::webhooks::send::{self, Outcome};
use crate::webhooks::{delivery_id, payload, TEST_EVENT};

pub(super) async fn send_test(app: &App, call: Call) -> Result<Response<Body>, Error> {
    call.no_body()?;
    let hook = find(app, &call, Operation::Update).await?;
    let sender = app.webhook_sender()?;
    let msg_id = format!("msg_test_{}", ulid::Ulid::new().to_string().to_lowercase());
    let body = serde_json::to_vec(&json!({
        "data": { "webhook_id": hook.id, "timestamp": crate::clock::now() },
        "webhook": { "event": TEST_EVENT, "target": hook.url },
    }))
    .map_err(Error::internal)?;
    let sent = sender.send(&hook, &msg_id, &body).await?;
    let record = attempt_record(msg_id, None, TEST_EVENT, 1, &sent);
    app.store.record_attempt(&hook, &record, None).await?;
    Ok(json_response(200, &attempt_json(&record, &sent.outcome)))
}

pub(super) async fn retry_delivery(app: &App, call: Call) -> Result<Response<Body>, Error> {
    call.no_body()?;
    let hook = find(app, &call, Operation::Update).await?;
    // Delivery ids are `msg_` and 32 hex digits; anything else names none.
    let wanted = call
        .param("delivery_id")
        .filter(|id| {
            id.strip_prefix("msg_").is_some_and(|h| {
                h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
        })
        .ok_or(Error::NotFound)?;
    let (event, attempts) = app
        .store
        .get_delivery(&hook, wanted)
        .await?
        .ok_or(Error::NotFound)?;
    // The event as the token's limits and the endpoint's filter stand now:
    // a delivery of a collection out of the token's reach is not there for
    // it, and an endpoint narrowed since is sent nothing it would not be.
    if !call.principal.allows_collection(&event.collection) {
        return Err(Error::NotFound);
    }
    if !hook.enabled {
        return Err(Error::Conflict(
            "The webhook is disabled; enable it (PUT with \"enabled\": true) before re-sending."
                .into(),
        ));
    }
    if !hook.wants(&event) {
        return Err(Error::Conflict(
            "The webhook no longer subscribes to this event (its events or collections changed); nothing was sent."
                .into(),
        ));
    }
    use crate::store::jobs::Claim;
    // Longer than the retry function's 15 s timeout: no queued attempt
    // claims the delivery while this request may still be sending it.
    const MANUAL_LEASE: std::time::Duration = std::time::Duration::from_secs(60);
    let sender = app.webhook_sender()?;
    let msg_id = delivery_id(&event.event_id, &hook.id);
    let body = serde_json::to_vec(&payload(&event, &hook.url)).map_err(Error::internal)?;
    // A manual retry is one more attempt of the queued delivery, under the
    // same job record: it holds the lease like any attempt, so it never
    // runs beside a queued one, and hands back or finishes only its own
    // claim. A delivery already made (or refused for good with a 410) is
    // not made again: 409 and nothing sent, rather than a 200 that would
    // read as an attempt made.
    let job = crate::events::deliver::DeliveryMessage {
        webhook_id: hook.id.clone(),
        event: event.clone(),
    }
    .job_key();
    let runs = match app
        .store
        .claim_job(&event.event_id, &job, MANUAL_LEASE)
        .await?
    {
        Claim::Claimed { runs } => runs,
        Claim::Done => {
            return Err(Error::Conflict(
                "This delivery was made already (or the receiver refused it for good with 410 Gone); nothing was sent."
                    .into(),
            ))
        }
        Claim::Busy => {
            return Err(Error::Conflict(
                "A queued attempt of this delivery is in progress; nothing was sent. Try again in a minute."
                    .into(),
            ))
        }
    };
    let sent = match sender.send(&hook, &msg_id, &body).await {
        Ok(sent) => sent,
        Err(e) => {
            // Nothing was sent: the queued attempts go on at once (or, if
            // this hand-back fails too, once the lease runs out).
            let _ = app.store.release_claim(&event.event_id, &job, runs).await;
            return Err(e);
        }
    };
    // The claim is settled before the attempt is logged, so that a failure
    // to log never leaves a delivery made by hand to the queue again.
    let done = matches!(sent.outcome, Outcome::Delivered(_) | Outcome::Gone);
    let settled = if done {
        app.store.finish_claim(&event.event_id, &job, runs).await?
    } else {
        app.store.release_claim(&event.event_id, &job, runs).await?
    };
    if !settled {
        tracing::warn!(webhook = %hook.id, event_id = %event.event_id, "the manual retry outlived its lease; a queued attempt holds the delivery");
    }
    let mut record = attempt_record(
        msg_id,
        Some(event.event_id.clone()),
        event.kind.as_str(),
        attempts + 1,
        &sent,
    );
    record.manual = Some(true);
    app.store
        .record_attempt(&hook, &record, Some(&event))
        .await?;
    if sent.outcome == Outcome::Gone {
        let reason = format!("The receiver answered 410 Gone at {}.", crate::clock::now());
        app.store
            .disable_webhook(&hook.org, &hook.id, &reason)
            .await?;
    }
    Ok(json_response(200, &attempt_json(&record, &sent.outcome)))
}

pub(super) fn epoch_time(seconds: i64) -> Result<String, Error> {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map(crate::clock::format_time)
        .map_err(Error::internal)
}

fn attempt_record(
    delivery_id: String,
    event_id: Option<String>,
    event: &str,
    attempt: u32,
    sent: &send::Sent,
) -> AttemptRecord {
    AttemptRecord {
        delivery_id,
        event_id,
        event: event.to_owned(),
        attempt,
        status_code: sent.outcome.status_code(),
        error: sent.outcome.error().map(str::to_owned),
        duration_ms: sent.duration.as_millis() as u64,
        at: crate::clock::now(),
        manual: None,
    }
}

fn attempt_json(record: &AttemptRecord, outcome: &Outcome) -> AttemptSent {
    AttemptSent {
        attempt: record.clone(),
        delivered: matches!(outcome, Outcome::Delivered(_)),
    }
}
