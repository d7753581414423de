//! The transaction bound with both versions of an item and the version
//! every write keeps: every change (`move_ops`), delete and restore of an
//! item whose two versions together
//! stay within `MAX_TARGETS` fits one transaction, over random sequences
//! of writes through every state.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::commit::MAX_ACTIONS;
use crate::entries::leaving_ops;
use folio_core::content::{distinct_targets, Status, MAX_TARGETS};
use folio_core::schema::OnDelete;

fn id(n: u8) -> ItemId {
    ItemId::parse(&format!("01JF00000000000000000000{n:02}")).unwrap()
}

/// A write of the property: the status it asks (None: keep; Some(None):
/// an unpublish) and the newest content's references.
type Step = (Option<Option<Status>>, Vec<OutRef>);

fn refs_strategy() -> impl Strategy<Value = Vec<OutRef>> {
    proptest::collection::vec((0u8..60, 0usize..3, any::<bool>()), 0..60).prop_map(|v| {
        let mut out: Vec<OutRef> = v
            .into_iter()
            .map(|(t, f, restrict)| OutRef {
                collection: CollectionKey::parse("people").unwrap(),
                id: id(t),
                field: ["a", "b", "c"][f].to_owned(),
                on_delete: if restrict {
                    OnDelete::Restrict
                } else {
                    OnDelete::Detach
                },
            })
            .collect();
        out.sort();
        out.dedup_by(|a, b| a.field == b.field && a.id == b.id);
        let keep: BTreeSet<ItemId> = out.iter().map(|r| r.id).take(MAX_TARGETS).collect();
        out.retain(|r| keep.contains(&r.id));
        out
    })
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let status = prop_oneof![
        Just(None),
        Just(Some(None)),
        Just(Some(Some(Status::Draft))),
        Just(Some(Some(Status::Published))),
    ];
    (status, refs_strategy())
}

fn schedule(item: &ItemRecord, action: ScheduleAction) -> Schedule {
    Schedule {
        id: "01JG0000000000000000000000".into(),
        org: item.org.clone(),
        collection: item.collection.clone(),
        item_id: item.id,
        action,
        at: "2027-01-04T09:00:00.000000Z".into(),
        state: folio_core::schedule::ScheduleState::Pending,
        created_at: "t0".into(),
        ended_at: None,
        reason: None,
    }
}

fn actions(ops: &[Op]) -> usize {
    ops.iter().map(Op::actions).sum()
}

proptest! {
    #[test]
    fn every_write_of_either_version_fits_one_transaction(
        steps in proptest::collection::vec(step_strategy(), 1..8)
    ) {
        let org = OrgId::parse("acme").unwrap();
        let coll = CollectionKey::parse("posts").unwrap();
        let indexing = Indexing::none();
        let by = Author::worker("event");
        let mut old = ItemRecord::new(&org, &coll, Status::Published, "t0", BTreeMap::new());
        let w = ItemWrite {
            org: &org,
            collection: &coll,
            id: old.id,
            now: "t1",
            expected: None,
            request_id: "req",
            indexing: &indexing,
            by: &by,
        };
        for (n, (status, refs)) in steps.iter().enumerate() {
            let now = format!("t{}", n + 1);
            let new = match status {
                Some(None) => match old.unpublished(&now) {
                    Some(new) => new,
                    None => continue,
                },
                Some(status) => old.written(*status, BTreeMap::new(), encode_refs(refs), &now),
                None => old.written(None, BTreeMap::new(), encode_refs(refs), &now),
            };
            // A write whose versions together pass the limit is refused
            // before it is planned (`check_target_limit`).
            if distinct_targets(&decode_refs(&new)) > MAX_TARGETS {
                continue;
            }
            let ops = move_ops(&w, (&old, &new), Made::Update, Pending::Keep, "token".into(), &BTreeSet::new()).unwrap();
            prop_assert!(actions(&ops) <= MAX_ACTIONS, "change: {} actions", actions(&ops));
            // A schedule firing on `new`: a publish of its newest content
            // (its references as they are) or an unpublish, with the
            // schedule record's end: one action more than that write.
            for (action, fired) in [
                (ScheduleAction::Publish, Some(new.written(
                    Some(Status::Published), new.fields.clone(), new.out_refs.clone(), &now,
                ))),
                (ScheduleAction::Unpublish, new.unpublished(&now)),
            ] {
                let Some(fired) = fired else { continue };
                let schedule = schedule(&new, action);
                let plain = move_ops(&w, (&new, &fired), Made::Publish, Pending::Keep, "t".into(), &BTreeSet::new()).unwrap();
                let ops = move_ops(&w, (&new, &fired), Made::Publish, Pending::Fire(&schedule), "t".into(), &BTreeSet::new()).unwrap();
                prop_assert_eq!(actions(&ops), actions(&plain) + 1);
                prop_assert!(actions(&ops) <= MAX_ACTIONS, "fire: {} actions", actions(&ops));
            }
            // A delete releases both versions' references; a restore links them again.
            let released = edge_ops(&org, &[RefChange {
                collection: &coll, id: new.id, old: &decode_refs(&new), new: &[],
            }], &BTreeSet::new());
            // Each keeps a version too (the 1 beside item and count).
            let delete = 3 + released.len()
                + actions(&leaving_ops(&org, &coll, &new, &indexing))
                + usize::from(live_listing_op(Some(&new), None).is_some());
            prop_assert!(delete <= MAX_ACTIONS, "delete: {delete} actions");
            let linked = edge_ops(&org, &[RefChange {
                collection: &coll, id: new.id, old: &[], new: &decode_refs(&new),
            }], &BTreeSet::new());
            let restore = 3 + linked.len() + usize::from(live_listing_op(None, Some(&new)).is_some());
            prop_assert!(restore <= MAX_ACTIONS, "restore: {restore} actions");
            old = new;
        }
    }
}
