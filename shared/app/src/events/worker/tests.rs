//! The worker's dispatch: which jobs an event asks for, continuations.

use super::*;
use crate::ids::{CollectionKey, ItemId, OrgId};

fn event(kind: EventType) -> Event {
    Event::new(
        &OrgId::parse("acme").unwrap(),
        &CollectionKey::parse("team").unwrap(),
        ItemId::parse("01JF0000000000000000000000").unwrap(),
        3,
        kind,
    )
}

#[test]
fn every_event_asks_for_webhooks_deletes_for_cleanup_and_cancelling_writes_for_schedules() {
    let (w, c, v, m, s) = (
        Job::Webhooks,
        Job::DetachCleanup,
        Job::Versions,
        Job::MediaIngest,
        Job::Schedules,
    );
    assert_eq!(jobs(&event(EventType::Delete)), vec![w, c, v, s]);
    assert_eq!(jobs(&event(EventType::Purge)), vec![w, c, v]);
    for kind in [EventType::Published, EventType::Unpublished] {
        assert_eq!(jobs(&event(kind)), vec![w, m, v, s], "{kind:?}");
    }
    for kind in [EventType::Draft, EventType::Restore] {
        assert_eq!(jobs(&event(kind)), vec![w, m, v], "{kind:?}");
    }
    assert_eq!(jobs(&event(EventType::ScheduleFailed)), vec![w]);
}

#[test]
fn a_continuation_is_an_event_with_where_to_resume_and_its_own_job_record() {
    let first = Message {
        event: event(EventType::Delete),
        resume: None,
    };
    let text = serde_json::to_string(&first).unwrap();
    assert!(!text.contains("resume"), "a plain event: {text}");
    let parsed: Message = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, first);
    let next = Message {
        resume: Some(Resume {
            job: Job::DetachCleanup,
            after: "REF#posts#01JF".into(),
        }),
        ..first.clone()
    };
    let parsed: Message = serde_json::from_str(&serde_json::to_string(&next).unwrap()).unwrap();
    assert_eq!(parsed, next);
    assert_eq!(first.job_key(Job::DetachCleanup), "detach_cleanup");
    assert_eq!(
        next.job_key(Job::DetachCleanup),
        "detach_cleanup@REF#posts#01JF"
    );
}
