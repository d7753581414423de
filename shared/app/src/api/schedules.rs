//! Scheduled publishing (`schedule`, `store::schedules`): publish or
//! unpublish an item at a set time, once, cancellable.
//!
//! - `POST …/{item_id}/schedules/` (`write`, `update`): 201, pending;
//! - `GET …/{item_id}/schedules/` (`read`): the item's schedules, newest first;
//! - `DELETE …/{item_id}/schedules/{schedule_id}/` (`write`, `update`): 204;
//! - `GET /v2/schedules/` (`read`): the organization's, by `at`, paged.
//!
//! The schedule record is the truth. Its stream change makes the worker
//! create or delete the EventBridge Scheduler schedule that fires it; the
//! fire is the worker's job (`events::worker::schedules`).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::read::page_size;
// A schedule is about a live item (a deleted one's were cancelled with
// it) of a defined collection, as a version read is.
use super::versions::live_item;
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::error::Error;
use crate::http::{json_response, no_content, serve, Route};
use crate::ids::{CollectionKey, ItemId};
use crate::schedule::{schedule_request, Schedule, ScheduleAction, ScheduleState};
use crate::store::schedules::effective;

pub const CREATE: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/schedules/",
    scope: Scope::Write,
    operation: Some(Operation::Update),
    query_token: false,
};
pub const LIST: Route = Route {
    scope: Scope::Read,
    operation: Some(Operation::Read),
    query_token: true,
    ..CREATE
};
pub const CANCEL: Route = Route {
    pattern: "/v2/content/{collection_key}/{item_id}/schedules/{schedule_id}/",
    ..CREATE
};
pub const ORG_LIST: Route = Route {
    pattern: "/v2/schedules/",
    ..LIST
};

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

/// A new schedule (`schedule::schedule_request` checks it; this type
/// states it for the OpenAPI document).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScheduleRequest, example = json!({"action": "publish", "at": "2027-01-04T09:00:00Z"}))]
#[allow(dead_code)]
pub(crate) struct ScheduleRequestBody {
    action: ScheduleAction,
    /// RFC 3339; at least `FOLIO_SCHEDULE_MIN_LEAD_SECONDS` (60) ahead and
    /// at most 5 years (1,826 days). A fraction of a second is dropped.
    #[schema(format = DateTime)]
    at: String,
}

/// A schedule.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Schedule)]
pub struct ScheduleBody {
    /// The schedule's id (26 characters).
    pub id: String,
    #[schema(value_type = String)]
    pub collection: CollectionKey,
    #[schema(value_type = String)]
    pub item_id: ItemId,
    pub action: ScheduleAction,
    /// When it fires (UTC, whole seconds).
    #[schema(format = DateTime)]
    pub at: String,
    pub state: ScheduleState,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it ran, failed or was cancelled.
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
}

impl From<Schedule> for ScheduleBody {
    fn from(s: Schedule) -> Self {
        ScheduleBody {
            id: s.id,
            collection: s.collection,
            item_id: s.item_id,
            action: s.action,
            at: s.at,
            state: s.state,
            created_at: s.created_at,
            ended_at: s.ended_at,
            reason: s.reason,
        }
    }
}

/// Schedules: an item's (newest first), or an organization's (by `at`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub data: Vec<ScheduleBody>,
    pub meta: ScheduleListMeta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleListMeta {
    /// Where the next page starts (`cursor`); null on the last (and
    /// always for one item's list, which is whole).
    pub next_cursor: Option<String>,
}

pub async fn create(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, CREATE, |call| async move {
        let (key, id) = (call.collection_key()?, call.item_id()?);
        let body: serde_json::Value = call.json()?;
        let now = time::OffsetDateTime::now_utc();
        let asked = schedule_request(&body, now, app.config.schedule_min_lead)?;
        let org = &call.principal.org;
        app.collection(org, &key, false).await?;
        let schedule = Schedule {
            id: ulid::Ulid::new().to_string(),
            org: org.clone(),
            collection: key,
            item_id: id,
            action: asked.action,
            at: asked.at,
            state: ScheduleState::Pending,
            created_at: crate::clock::format_time(now),
            ended_at: None,
            reason: None,
        };
        app.store.create_schedule(&schedule).await?;
        tracing::info!(schedule = %schedule.id, action = schedule.action.as_str(), at = %schedule.at, "schedule created");
        Ok(json_response(201, &ScheduleBody::from(schedule)))
    })
    .await
}

pub async fn list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, LIST, |call| async move {
        let (key, id) = (call.collection_key()?, call.item_id()?);
        let org = &call.principal.org;
        let item = live_item(app, org, &key, &id).await?;
        let data = app
            .store
            .item_schedules(org, &key, &id)
            .await?
            .into_iter()
            .map(|s| effective(s, Some(&item)).into())
            .collect();
        let body = ScheduleList {
            data,
            meta: ScheduleListMeta { next_cursor: None },
        };
        Ok(json_response(200, &body))
    })
    .await
}

pub async fn cancel(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, CANCEL, |call| async move {
        let (key, id) = (call.collection_key()?, call.item_id()?);
        call.no_body()?;
        let schedule_id = call.param("schedule_id").unwrap_or_default();
        if ulid::Ulid::from_string(schedule_id).is_err() {
            return Err(Error::NotFound);
        }
        let org = &call.principal.org;
        let item = live_item(app, org, &key, &id).await?;
        let stored = app
            .store
            .schedule(org, &key, &id, schedule_id)
            .await?
            .ok_or(Error::NotFound)?;
        let shown = effective(stored.clone(), Some(&item));
        if shown.state != ScheduleState::Pending {
            return Err(Error::Conflict(format!(
                "This schedule has ended ({}); only a pending one can be cancelled.",
                shown.state.as_str()
            )));
        }
        app.store
            .cancel_schedule(&stored, &item, &crate::clock::now())
            .await?;
        Ok(no_content())
    })
    .await
}

pub async fn org_list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, ORG_LIST, |call| async move {
        let state = call
            .query("state")
            .map(|s| {
                ScheduleState::parse(s).ok_or_else(|| {
                    Error::field("state", "One of pending, done, failed, cancelled.")
                })
            })
            .transpose()?;
        let take = page_size(&call, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let after = call.query("cursor");
        if after.is_some_and(|c| c.len() > 200 || !c.contains('#')) {
            return Err(Error::field("cursor", "Use meta.next_cursor as it came."));
        }
        let org = &call.principal.org;
        let page = app.store.org_schedules(org, state, after, take).await?;
        // A pending one its item let go of was cancelled by a write.
        let targets: Vec<_> = page
            .schedules
            .iter()
            .filter(|s| s.state == ScheduleState::Pending)
            .map(|s| (s.collection.clone(), s.item_id))
            .collect();
        let items = app.store.get_items(org, &targets).await?;
        let data = page
            .schedules
            .into_iter()
            .filter(|s| call.principal.allows_collection(&s.collection))
            .map(|s| {
                let item = items.get(&(s.collection.clone(), s.item_id));
                effective(s, item)
            })
            .filter(|s| state.is_none_or(|state| s.state == state))
            .map(ScheduleBody::from)
            .collect();
        let body = ScheduleList {
            data,
            meta: ScheduleListMeta {
                next_cursor: page.next,
            },
        };
        Ok(json_response(200, &body))
    })
    .await
}
