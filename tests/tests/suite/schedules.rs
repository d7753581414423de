//! Scheduled publishing (issue 26): a schedule is stored with its item,
//! armed in EventBridge Scheduler (moto) through the stream, fired by the
//! scheduler's clock (`folio_local::clock`, as AWS would) and run once by
//! the worker; cancelled by hand, by a delete, by an explicit publish or
//! unpublish. Over the wire to DynamoDB Local and moto.

use std::time::Duration;

use folio::auth::Scope;
use folio::events::worker::{ScheduleMessage, Step, Worker};
use folio::schedule::Schedule;
use folio_local::receiver::{always, Receiver};
use folio_tests::{closed_port, folio, sqs_event, TestApp, TestResponse};
use serde_json::{json, Value};

async fn app() -> TestApp {
    let t = TestApp::spawn_with(&[]).await;
    let r = t
        .put_collection(
            "articles",
            json!({"name": "Articles", "fields": [
                {"key": "title", "type": "text", "required": true},
                {"key": "body", "type": "long_text"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    t
}

fn item(id: &str) -> String {
    format!("/v2/content/articles/{id}/")
}

fn schedules(id: &str) -> String {
    format!("{}schedules/", item(id))
}

/// At least `secs` seconds from now, in whole seconds (the server drops a
/// fraction), RFC 3339.
fn in_secs(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    let whole = t.replace_nanosecond(0).unwrap();
    let t = if whole < t {
        whole + time::Duration::SECOND
    } else {
        whole
    };
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn schedule(t: &TestApp, id: &str, action: &str, at: &str) -> TestResponse {
    t.request(
        "POST",
        &schedules(id),
        Some(json!({"action": action, "at": at})),
    )
    .await
}

/// A schedule that must be accepted; its id.
async fn scheduled(t: &TestApp, id: &str, action: &str, secs: i64) -> String {
    let r = schedule(t, id, action, &in_secs(secs)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["state"], "pending");
    assert_eq!(r.body["action"], action);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The item's schedules as the API lists them: (id, state).
async fn listed(t: &TestApp, id: &str) -> Vec<(String, String)> {
    let r = t.request("GET", &schedules(id), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().into(),
                s["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn state_of(t: &TestApp, id: &str, schedule: &str) -> String {
    listed(t, id)
        .await
        .into_iter()
        .find(|(s, _)| s == schedule)
        .map(|(_, state)| state)
        .unwrap_or_else(|| panic!("schedule {schedule} not listed"))
}

/// The stored record.
async fn stored(t: &TestApp, id: &str, schedule: &str) -> Schedule {
    t.app
        .store
        .schedule(
            &t.org,
            &folio::ids::CollectionKey::parse("articles").unwrap(),
            &folio::ids::ItemId::parse(id).unwrap(),
            schedule,
        )
        .await
        .unwrap()
        .expect("the schedule's record")
}

/// The fire message EventBridge Scheduler sends for `schedule`.
async fn fire_message(t: &TestApp, id: &str, schedule: &str) -> String {
    let s = stored(t, id, schedule).await;
    serde_json::to_string(&ScheduleMessage::of(&s, Step::Fire)).unwrap()
}

async fn armed(t: &TestApp, schedule: &str) -> bool {
    t.scheduler
        .client
        .get_schedule()
        .name(schedule)
        .group_name(&t.schedule_group)
        .send()
        .await
        .is_ok()
}

/// A request with `token`.
async fn as_token(
    t: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    let body = body.map(|b| b.to_string());
    t.request_as(method, path, body, Some(token), &[]).await
}

async fn read(t: &TestApp, id: &str, preview: bool) -> TestResponse {
    let q = if preview { "?preview=1" } else { "" };
    t.request("GET", &format!("{}{q}", item(id)), None).await
}

/// One round of the stream and the worker: what was made is armed, and
/// nothing due later than now fires.
async fn arm(t: &TestApp) {
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    t.queue.pump(&t.worker, Duration::ZERO).await.unwrap();
}

/// Sleeps until the schedule's `at` (as stored) has passed.
async fn until_due(t: &TestApp, id: &str, schedule: &str) {
    let at = stored(t, id, schedule).await.at_time().unwrap();
    let left = at - time::OffsetDateTime::now_utc();
    if left.is_positive() {
        tokio::time::sleep(Duration::try_from(left).unwrap()).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// A publish fires once: a fire message before its time goes back on the
/// queue (never dropped) and, with the clock's own, publishes the latest
/// draft (edits made after scheduling included) as one version; the fire
/// message delivered three times more (twice at once) changes nothing.
#[tokio::test]
async fn a_publish_fires_once_and_publishes_the_latest_draft() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 8).await;
    // Edits do not cancel: the schedule publishes what the draft is then.
    let r = t
        .request(
            "PATCH",
            &item(&id),
            Some(json!({"fields": {"title": "v2"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let before = read(&t, &id, true).await.body["meta"]["version"]
        .as_u64()
        .unwrap();
    // Early: back on the queue (delayed), nothing published.
    let message = fire_message(&t, &id, &s).await;
    let early = t.worker.handle(sqs_event("early", &message)).await;
    assert!(early.batch_item_failures.is_empty());
    assert_eq!(read(&t, &id, false).await.status, 404);
    assert!(
        t.in_flight().await >= 1,
        "the early message waits on the queue"
    );
    arm(&t).await;
    assert!(armed(&t, &s).await, "armed in the scheduler");

    // Until idle: the delayed message and the clock's fire both come.
    t.run_pipeline(Duration::from_secs(60)).await;
    let live = read(&t, &id, false).await;
    assert_eq!(live.status, 200, "{:?}", live.body);
    assert_eq!(live.body["title"], "v2");
    assert_eq!(live.body["meta"]["status"], "published");
    assert_eq!(live.body["meta"]["version"], before + 1, "one version");
    let (a, b) = tokio::join!(
        t.worker.handle(sqs_event("again-1", &message)),
        t.worker.handle(sqs_event("again-2", &message)),
    );
    let c = t.worker.handle(sqs_event("again-3", &message)).await;
    for r in [a, b, c] {
        assert!(r.batch_item_failures.is_empty());
    }
    assert_eq!(
        read(&t, &id, false).await.body["meta"]["version"],
        before + 1
    );
    let versions = t
        .request("GET", &format!("{}versions/", item(&id)), None)
        .await;
    let newest = &versions.body["data"][0];
    assert_eq!(newest["action"], "publish");
    assert_eq!(newest["by"]["label"], format!("schedule {s}"));
    assert_eq!(versions.body["data"][1]["action"], "update");
    assert_eq!(state_of(&t, &id, &s).await, "done");
    assert!(stored(&t, &id, &s).await.ended_at.is_some());
    assert!(
        !armed(&t, &s).await,
        "deleted from the scheduler once fired"
    );
}

/// A due schedule's fire message delivered twice at once and once more:
/// one publish, one version, one job.
#[tokio::test]
async fn a_fire_delivered_three_times_twice_at_once_publishes_once() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 2).await;
    let before = read(&t, &id, true).await.body["meta"]["version"]
        .as_u64()
        .unwrap();
    until_due(&t, &id, &s).await;
    let message = fire_message(&t, &id, &s).await;
    let (a, b) = tokio::join!(
        t.worker.handle(sqs_event("first", &message)),
        t.worker.handle(sqs_event("second", &message)),
    );
    let c = t.worker.handle(sqs_event("third", &message)).await;
    // A delivery that found the job running elsewhere is retried later;
    // it finds it done.
    let busy = a.batch_item_failures.len() + b.batch_item_failures.len();
    assert!(busy <= 1 && c.batch_item_failures.is_empty());
    if busy == 1 {
        let r = t.worker.handle(sqs_event("retry", &message)).await;
        assert!(r.batch_item_failures.is_empty());
    }
    let live = read(&t, &id, false).await;
    assert_eq!(live.status, 200, "{:?}", live.body);
    assert_eq!(live.body["meta"]["version"], before + 1, "one version");
    assert_eq!(state_of(&t, &id, &s).await, "done");
}

/// An unpublish fires as the explicit unpublish does: the item leaves the
/// live site and its content stays as a draft.
#[tokio::test]
async fn an_unpublish_fires_through_the_clock() {
    let t = app().await;
    let id = t
        .create("articles", "published", json!({"title": "live"}))
        .await;
    let s = scheduled(&t, &id, "unpublish", 2).await;
    t.run_pipeline(Duration::from_secs(30)).await;
    until_due(&t, &id, &s).await;
    t.run_pipeline(Duration::from_secs(30)).await;
    assert_eq!(read(&t, &id, false).await.status, 404);
    let draft = read(&t, &id, true).await;
    assert_eq!(draft.body["meta"]["status"], "draft");
    assert_eq!(draft.body["title"], "live");
    assert_eq!(state_of(&t, &id, &s).await, "done");
}

/// Cancelled before it fires: 204, disarmed, and its fire message does
/// nothing; a second cancel is a 409; an unknown one a 404.
#[tokio::test]
async fn a_cancelled_schedule_does_nothing() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 6).await;
    arm(&t).await;
    assert!(armed(&t, &s).await);
    let path = format!("{}{s}/", schedules(&id));
    let r = t.request("DELETE", &path, None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(state_of(&t, &id, &s).await, "cancelled");
    t.run_pipeline(Duration::from_secs(30)).await;
    assert!(!armed(&t, &s).await, "disarmed");
    // A new one may be made at once: the item let go of the old.
    let again = scheduled(&t, &id, "publish", 600).await;

    until_due(&t, &id, &s).await;
    let message = fire_message(&t, &id, &s).await;
    let r = t.worker.handle(sqs_event("late", &message)).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(read(&t, &id, false).await.status, 404, "not published");
    assert_eq!(state_of(&t, &id, &s).await, "cancelled");
    assert_eq!(state_of(&t, &id, &again).await, "pending");

    let r = t.request("DELETE", &path, None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.detail().contains("cancelled"), "{}", r.detail());
    let unknown = format!("{}01JG0000000000000000000000/", schedules(&id));
    assert_eq!(t.request("DELETE", &unknown, None).await.status, 404);
}

/// Deleting the item cancels its schedules: a delete, restore and fire
/// never publishes.
#[tokio::test]
async fn deleting_the_item_cancels_its_schedules() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 6).await;
    arm(&t).await;
    assert!(armed(&t, &s).await);
    let r = t.request("DELETE", &item(&id), None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    // Gone with the item until it is restored; the org list says cancelled.
    assert_eq!(t.request("GET", &schedules(&id), None).await.status, 404);
    let org = t.request("GET", "/v2/schedules/?state=pending", None).await;
    assert_eq!(org.body["data"], json!([]), "{:?}", org.body);
    t.run_pipeline(Duration::from_secs(30)).await;
    assert_eq!(stored(&t, &id, &s).await.state.as_str(), "cancelled");
    assert!(!armed(&t, &s).await, "disarmed");
    let r = t
        .request("POST", &format!("{}restore/", item(&id)), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    until_due(&t, &id, &s).await;
    let message = fire_message(&t, &id, &s).await;
    t.worker.handle(sqs_event("after-restore", &message)).await;
    assert_eq!(read(&t, &id, false).await.status, 404, "never published");
    assert_eq!(listed(&t, &id).await, vec![(s, "cancelled".to_owned())]);
}

/// An explicit publish cancels a pending publish (and an explicit
/// unpublish a pending unpublish): a later draft is not published by it.
#[tokio::test]
async fn an_explicit_publish_or_unpublish_cancels_the_pending_one() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let publish = scheduled(&t, &id, "publish", 2).await;
    let unpublish = scheduled(&t, &id, "unpublish", 600).await;
    let r = t
        .request("PATCH", &item(&id), Some(json!({"status": "published"})))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(state_of(&t, &id, &publish).await, "cancelled");
    assert_eq!(state_of(&t, &id, &unpublish).await, "pending");
    let r = t
        .request(
            "PATCH",
            &item(&id),
            Some(json!({"status": "draft", "fields": {"title": "v2"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    t.run_pipeline(Duration::from_secs(30)).await;
    assert_eq!(stored(&t, &id, &publish).await.state.as_str(), "cancelled");
    until_due(&t, &id, &publish).await;
    let message = fire_message(&t, &id, &publish).await;
    t.worker.handle(sqs_event("cancelled", &message)).await;
    assert_eq!(
        read(&t, &id, false).await.body["title"],
        "v1",
        "the draft stays a draft"
    );

    let r = t
        .request("POST", &format!("{}unpublish/", item(&id)), None)
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(state_of(&t, &id, &unpublish).await, "cancelled");

    // A publish that changes nothing else (no new version, so no event)
    // ends the record in its own write, and the stream disarms it.
    let live = t
        .create("articles", "published", json!({"title": "live"}))
        .await;
    let p = scheduled(&t, &live, "publish", 600).await;
    arm(&t).await;
    assert!(armed(&t, &p).await);
    let before = read(&t, &live, false).await.body["meta"]["version"].clone();
    let r = t
        .request("PATCH", &item(&live), Some(json!({"status": "published"})))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["meta"]["version"], before, "no new version");
    assert_eq!(stored(&t, &live, &p).await.state.as_str(), "cancelled");
    t.run_pipeline(Duration::from_secs(30)).await;
    assert!(!armed(&t, &p).await, "disarmed");
}

/// A publish whose draft no longer validates (a field became required)
/// fails with its reason, sends `schedule.failed`, and writes nothing.
#[tokio::test]
async fn a_publish_that_no_longer_validates_fails_and_says_why() {
    let t = app().await;
    let receiver = Receiver::start(always(200)).await.unwrap();
    let r = t
        .request(
            "PUT",
            "/v2/webhooks/ops/",
            Some(json!({"url": &receiver.url, "events": ["schedule.failed"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    receiver.verify_with(r.body["secret"].as_str().unwrap());
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 5).await;
    arm(&t).await;
    let r = t
        .put_collection(
            "articles",
            json!({"name": "Articles", "fields": [
                {"key": "title", "type": "text", "required": true},
                {"key": "body", "type": "long_text", "required": true}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let before = read(&t, &id, true).await.body;
    until_due(&t, &id, &s).await;
    t.deliver_until(Duration::from_secs(60), || receiver.count() >= 1)
        .await;

    let record = stored(&t, &id, &s).await;
    assert_eq!(record.state.as_str(), "failed");
    let reason = record.reason.unwrap();
    assert!(reason.contains("body"), "{reason}");
    let got = receiver.received()[0].json();
    assert_eq!(got["webhook"]["event"], "schedule.failed");
    assert_eq!(got["data"]["schedule"]["id"], json!(s));
    assert_eq!(got["data"]["schedule"]["reason"], json!(reason));
    assert_eq!(
        read(&t, &id, true).await.body,
        before,
        "the item is unchanged"
    );
    assert_eq!(read(&t, &id, false).await.status, 404);
}

/// Past, too near and too far times are 400s naming `at`; an unknown
/// action names `action`; a second pending publish is a 409 naming the
/// first; an unknown or deleted item a 404.
#[tokio::test]
async fn bad_schedules_are_refused_and_nothing_is_written() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let far = (time::OffsetDateTime::now_utc() + time::Duration::days(1827))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for at in [in_secs(-60), far, "next monday".to_owned()] {
        let r = schedule(&t, &id, "publish", &at).await;
        assert_eq!(r.status, 400, "{at}: {:?}", r.body);
        assert!(r.body["errors"]["at"].is_array(), "{:?}", r.body);
    }
    let r = schedule(&t, &id, "archive", &in_secs(60)).await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"]["action"].is_array(), "{:?}", r.body);
    assert_eq!(listed(&t, &id).await, vec![]);

    let first = scheduled(&t, &id, "publish", 60).await;
    let r = schedule(&t, &id, "publish", &in_secs(120)).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.detail().contains(&first), "{}", r.detail());
    assert_eq!(listed(&t, &id).await.len(), 1);

    let unknown = "01JF0000000000000000000009";
    assert_eq!(
        schedule(&t, unknown, "publish", &in_secs(60)).await.status,
        404
    );
    let r = t.request("DELETE", &item(&id), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        schedule(&t, &id, "unpublish", &in_secs(60)).await.status,
        404
    );
}

/// Scopes and tenancy: scheduling needs write (update); reading needs
/// read; another organization's item is a 404 and its schedules are not
/// listed; a token limited to some collections sees only theirs.
#[tokio::test]
async fn scopes_and_tenancy() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 600).await;
    let body = json!({"action": "unpublish", "at": in_secs(600)});
    let read_token = t.mint(&t.org, &[Scope::Read]).await;
    let r = as_token(&t, &read_token, "POST", &schedules(&id), Some(body.clone())).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let r = as_token(&t, &read_token, "GET", &schedules(&id), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let other = t.create_org(&[]).await;
    let stranger = t
        .mint(&other, &[Scope::Admin, Scope::Write, Scope::Read])
        .await;
    for (method, path) in [
        ("POST", schedules(&id)),
        ("GET", schedules(&id)),
        ("DELETE", format!("{}{s}/", schedules(&id))),
    ] {
        let b = (method == "POST").then(|| body.clone());
        let r = as_token(&t, &stranger, method, &path, b).await;
        assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
    }
    let r = as_token(&t, &stranger, "GET", "/v2/schedules/", None).await;
    assert_eq!(r.body["data"], json!([]), "{:?}", r.body);

    let r = t
        .put_collection(
            "notes",
            json!({"name": "Notes", "fields": [{"key": "title", "type": "text"}]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let note = t.create("notes", "draft", json!({"title": "n"})).await;
    let r = t
        .request(
            "POST",
            &format!("/v2/content/notes/{note}/schedules/"),
            Some(json!({"action": "publish", "at": in_secs(300)})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let limited = t
        .mint_record(folio::auth::TokenRecord {
            org: t.org.clone(),
            scopes: vec![Scope::Read],
            collections: Some(vec![folio::ids::CollectionKey::parse("notes").unwrap()]),
            operations: None,
            revoked: false,
            name: None,
            created_at: folio::clock::now(),
        })
        .await;
    let r = as_token(&t, &limited, "GET", "/v2/schedules/", None).await;
    let seen: Vec<&Value> = r.body["data"].as_array().unwrap().iter().collect();
    assert_eq!(seen.len(), 1, "{:?}", r.body);
    assert_eq!(seen[0]["collection"], "notes");
}

/// The organization's list: by time across collections, in pages, and by
/// state.
#[tokio::test]
async fn the_organizations_schedules_by_time_in_pages_and_by_state() {
    let t = app().await;
    let mut made = Vec::new();
    for (i, secs) in [500, 300, 400].into_iter().enumerate() {
        let id = t
            .create("articles", "draft", json!({"title": format!("a{i}")}))
            .await;
        made.push((secs, scheduled(&t, &id, "publish", secs).await, id));
    }
    let (_, cancelled, cancelled_item) = made[0].clone();
    let r = t
        .request(
            "DELETE",
            &format!("{}{cancelled}/", schedules(&cancelled_item)),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    made.sort();
    let page = t.request("GET", "/v2/schedules/?page_size=2", None).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    let ids = |b: &Value| -> Vec<String> {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page.body), vec![made[0].1.clone(), made[1].1.clone()]);
    let cursor = page.body["meta"]["next_cursor"].as_str().unwrap();
    let next = t
        .request(
            "GET",
            &format!("/v2/schedules/?page_size=2&cursor={}", urlencode(cursor)),
            None,
        )
        .await;
    assert_eq!(ids(&next.body), vec![made[2].1.clone()]);
    assert_eq!(next.body["meta"]["next_cursor"], Value::Null);
    let pending = t.request("GET", "/v2/schedules/?state=pending", None).await;
    assert_eq!(
        ids(&pending.body),
        vec![made[0].1.clone(), made[1].1.clone()]
    );
    let gone = t
        .request("GET", "/v2/schedules/?state=cancelled", None)
        .await;
    assert_eq!(ids(&gone.body), vec![cancelled]);
    let r = t
        .request("GET", "/v2/schedules/?state=archived", None)
        .await;
    assert_eq!(r.status, 400);
}

fn urlencode(s: &str) -> String {
    s.replace('#', "%23").replace(':', "%3A")
}

/// With the scheduler's API down (a closed port) when a schedule is made:
/// the request answers 201, arming fails and is retried, and the schedule
/// is armed once the API is back, then fires.
#[tokio::test]
async fn a_schedule_made_while_the_scheduler_is_down_is_armed_when_it_is_back() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 30).await;
    let down = aws_sdk_scheduler::Client::from_conf(
        aws_sdk_scheduler::config::Builder::from(&t.sdk)
            .endpoint_url(closed_port())
            .build(),
    );
    let broken = Worker::new(
        t.app.store.clone(),
        t.sqs.clone(),
        t.queue_url.clone(),
        Duration::from_secs(60),
    )
    .with_scheduler(folio::events::worker::Scheduler {
        client: down,
        ..t.scheduler.clone()
    });
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    let round = t.queue.pump(&broken, Duration::from_secs(1)).await.unwrap();
    assert!(round.received >= 1 && round.failed >= 1, "{round:?}");
    assert!(!armed(&t, &s).await);
    // The failed message comes back after the visibility timeout (5 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    t.run_pipeline(Duration::from_secs(60)).await;
    assert!(armed(&t, &s).await, "armed once the API is back");
    until_due(&t, &id, &s).await;
    t.run_pipeline(Duration::from_secs(30)).await;
    assert_eq!(read(&t, &id, false).await.status, 200, "published");
    assert_eq!(state_of(&t, &id, &s).await, "done");
}

/// A schedule whose arming was lost (its stream record never relayed: an
/// outage longer than the stream keeps records) is armed again by the
/// replay of its organization, and arming twice changes nothing.
#[tokio::test]
async fn a_replay_arms_the_pending_schedules_again() {
    let t = app().await;
    let id = t.create("articles", "draft", json!({"title": "v1"})).await;
    let s = scheduled(&t, &id, "publish", 600).await;
    let done = scheduled(&t, &id, "unpublish", 600).await;
    let r = t
        .request("DELETE", &format!("{}{done}/", schedules(&id)), None)
        .await;
    assert_eq!(r.status, 204);
    t.pump.lock().await.skip().await.unwrap();
    assert!(!armed(&t, &s).await);
    for _ in 0..2 {
        let out = std::process::Command::new(folio_tests::binary("folio-admin"))
            .args([
                "replay",
                "--org",
                t.org.as_str(),
                "--queue-url",
                &t.queue_url,
            ])
            .env("FOLIO_TABLE", &t.table)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("1 of 1 pending schedules armed again"),
            "{said}"
        );
        t.run_pipeline(Duration::from_secs(30)).await;
        assert!(armed(&t, &s).await, "armed by the replay");
        assert!(!armed(&t, &done).await, "a cancelled one is not");
    }
    assert_eq!(state_of(&t, &id, &s).await, "pending");
}
