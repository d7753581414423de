//! Scheduled publishing: "publish this item at 9:00 on Monday", or
//! unpublish it then. A schedule is a record beside its item
//! (`store::schedules`); the item holds the ids of its pending schedules
//! (`ItemRecord::pending_publish`, `pending_unpublish`), one per action,
//! and every write that cancels one (a delete, an explicit publish or
//! unpublish) removes its id in the item's own update. A schedule fires
//! only through a write conditioned on the item still holding its id and
//! on the record still being pending, so it fires at most once and never
//! after a cancel (a delete → restore → fire cannot publish).
//!
//! States: `pending` → `done` (fired), `failed` (could not run: the
//! `reason` says why), or `cancelled`. Ended ones are kept for
//! `ENDED_KEPT_DAYS`.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::clock::format_time;
use crate::error::Error;
use crate::ids::{CollectionKey, ItemId, OrgId};

/// How long after `at` a schedule may be set: 5 years (1,826 days).
pub const MAX_AHEAD_DAYS: i64 = 1826;
/// Ended schedules (done, failed, cancelled) are kept this long (TTL).
pub const ENDED_KEPT_DAYS: i64 = 30;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleAction {
    Publish,
    Unpublish,
}

impl ScheduleAction {
    pub const ALL: [ScheduleAction; 2] = [ScheduleAction::Publish, ScheduleAction::Unpublish];

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleAction::Publish => "publish",
            ScheduleAction::Unpublish => "unpublish",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The item attribute that holds this action's pending schedule id.
    pub fn item_attribute(self) -> &'static str {
        match self {
            ScheduleAction::Publish => "pending_publish",
            ScheduleAction::Unpublish => "pending_unpublish",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    Pending,
    Done,
    Failed,
    Cancelled,
}

impl ScheduleState {
    pub const ALL: [ScheduleState; 4] = [
        ScheduleState::Pending,
        ScheduleState::Done,
        ScheduleState::Failed,
        ScheduleState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Pending => "pending",
            ScheduleState::Done => "done",
            ScheduleState::Failed => "failed",
            ScheduleState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A schedule as stored (the record's attributes besides its keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// A ULID: schedules of an item sort by creation.
    pub id: String,
    pub org: OrgId,
    pub collection: CollectionKey,
    pub item_id: ItemId,
    pub action: ScheduleAction,
    /// When it fires: stored form (`clock::format_time`), whole seconds.
    pub at: String,
    pub state: ScheduleState,
    pub created_at: String,
    /// When it ended (done, failed, cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Schedule {
    /// The EventBridge Scheduler expression of `at`: `at(yyyy-mm-ddThh:mm:ss)`, UTC.
    pub fn expression(&self) -> String {
        format!("at({})", self.at.get(..19).unwrap_or(&self.at))
    }

    /// `at` as a time.
    pub fn at_time(&self) -> Option<OffsetDateTime> {
        parse(&self.at)
    }
}

fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// A new schedule's body: `{"action": "publish" | "unpublish", "at": "<RFC 3339>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    pub action: ScheduleAction,
    /// Stored form, whole seconds (a fraction is dropped).
    pub at: String,
}

/// Checks a new schedule's body at `now`: `at` must be at least
/// `min_lead_secs` ahead and at most `MAX_AHEAD_DAYS` ahead; every error
/// names its field (400).
pub fn schedule_request(
    body: &serde_json::Value,
    now: OffsetDateTime,
    min_lead_secs: u64,
) -> Result<ScheduleRequest, Error> {
    let object = body
        .as_object()
        .ok_or_else(|| Error::bad_request("The body must be a JSON object."))?;
    if let Some(key) = object
        .keys()
        .find(|k| !["action", "at"].contains(&k.as_str()))
    {
        return Err(Error::field(key.clone(), "Unknown field."));
    }
    let action = match object.get("action") {
        None => return Err(Error::field("action", "This field is required.")),
        Some(v) => v
            .as_str()
            .and_then(ScheduleAction::parse)
            .ok_or_else(|| Error::field("action", "Must be \"publish\" or \"unpublish\"."))?,
    };
    let at = match object.get("at") {
        None => return Err(Error::field("at", "This field is required.")),
        Some(v) => v.as_str().and_then(parse).ok_or_else(|| {
            Error::field("at", "Must be an RFC 3339 time, like 2027-01-04T09:00:00Z.")
        })?,
    };
    let at = at
        .checked_to_offset(time::UtcOffset::UTC)
        .and_then(|t| t.replace_nanosecond(0).ok())
        .ok_or_else(|| Error::field("at", "Must be within the next 5 years."))?;
    let lead = Duration::seconds(i64::try_from(min_lead_secs).unwrap_or(i64::MAX));
    if at < now + lead {
        return Err(Error::field(
            "at",
            format!("Must be {min_lead_secs} s or more ahead."),
        ));
    }
    if at > now + Duration::days(MAX_AHEAD_DAYS) {
        return Err(Error::field(
            "at",
            "Must be within the next 5 years (1,826 days).",
        ));
    }
    Ok(ScheduleRequest {
        action,
        at: format_time(at),
    })
}

/// When an ended schedule's record expires (epoch seconds).
pub fn ended_expiry(now: OffsetDateTime) -> i64 {
    (now + Duration::days(ENDED_KEPT_DAYS)).unix_timestamp()
}

/// Why a schedule could not run, as `reason` says it.
pub const REASON_GONE: &str = "The item no longer exists.";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 09:00:00 UTC);

    fn field_error(r: Result<ScheduleRequest, Error>) -> String {
        match r {
            Err(Error::Invalid(errors)) => errors.keys().cloned().collect::<Vec<_>>().join(","),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn a_time_ahead_is_kept_in_utc_whole_seconds() {
        let r = schedule_request(
            &json!({"action": "publish", "at": "2026-12-07T11:00:30.75+01:00"}),
            NOW,
            60,
        )
        .unwrap();
        assert_eq!(r.action, ScheduleAction::Publish);
        assert_eq!(r.at, "2026-12-07T10:00:30.000000Z");
        let s = Schedule {
            id: "01J".into(),
            org: OrgId::parse("acme").unwrap(),
            collection: CollectionKey::parse("team").unwrap(),
            item_id: ItemId::new(),
            action: r.action,
            at: r.at,
            state: ScheduleState::Pending,
            created_at: format_time(NOW),
            ended_at: None,
            reason: None,
        };
        assert_eq!(s.expression(), "at(2026-12-07T10:00:30)");
        assert_eq!(s.at_time(), Some(datetime!(2026-12-07 10:00:30 UTC)));
    }

    #[test]
    fn past_near_and_far_times_and_bad_bodies_are_400s_naming_the_field() {
        let at = |t: &str| json!({"action": "unpublish", "at": t});
        assert_eq!(
            field_error(schedule_request(&at("2026-12-07T08:00:00Z"), NOW, 60)),
            "at"
        );
        assert_eq!(
            field_error(schedule_request(&at("2026-12-07T09:00:59Z"), NOW, 60)),
            "at"
        );
        assert!(schedule_request(&at("2026-12-07T09:01:00Z"), NOW, 60).is_ok());
        assert!(schedule_request(&at("2026-12-07T09:00:01Z"), NOW, 1).is_ok());
        assert!(schedule_request(&at("2031-12-07T09:00:00Z"), NOW, 60).is_ok());
        assert_eq!(
            field_error(schedule_request(&at("2031-12-08T09:00:00Z"), NOW, 60)),
            "at"
        );
        assert_eq!(
            field_error(schedule_request(&at("Monday 9:00"), NOW, 60)),
            "at"
        );
        assert_eq!(
            field_error(schedule_request(
                &json!({"action": "archive", "at": "2027-01-01T00:00:00Z"}),
                NOW,
                60
            )),
            "action"
        );
        assert_eq!(
            field_error(schedule_request(
                &json!({"at": "2027-01-01T00:00:00Z"}),
                NOW,
                60
            )),
            "action"
        );
        assert_eq!(
            field_error(schedule_request(&json!({"action": "publish"}), NOW, 60)),
            "at"
        );
        assert_eq!(
            field_error(schedule_request(
                &json!({"action": "publish", "at": "2027-01-01T00:00:00Z", "when": 1}),
                NOW,
                60
            )),
            "when"
        );
        assert!(matches!(
            schedule_request(&json!([1]), NOW, 60),
            Err(Error::BadRequest(_))
        ));
    }
}
