//! Changing a live item: replace (PUT), patch (PATCH), unpublish and
//! revert. Each reads the item first (one strongly consistent read),
//! computes it as the write leaves it (`ItemRecord::written`: both
//! versions and the state), and commits the difference conditioned on the
//! version it read (`writes::move_ops`). A lost race plans again on the
//! item the failed condition handed back, after a jittered wait, so
//! concurrent writers of one item all land (patches of different fields
//! all survive). A write that changes nothing keeps the item's version.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{
    decode_refs, encode_refs, missing_target_errors, move_ops, newest_refs, pending_ops,
    still_writable, too_large, ItemWrite, Pending, Written,
};
use crate::commit::{Committed, Retry, WriteFailure};
use crate::refs::check_target_limit;
use crate::size::{item_size, MAX_ITEM_BYTES};
use crate::Store;
use folio_core::content::{Action as Made, ItemRecord, OutRef, Status};
use folio_core::error::Error;
use folio_core::schedule::Schedule;

impl Store {
    /// Replaces every field of a live item's newest content (PUT).
    pub async fn replace_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<Written, Error> {
        self.rewrite(w, None, Pending::of_status(status), status, values, refs)
            .await
    }

    /// Makes an earlier version's content (checked against today's schema
    /// and references as a PUT's is) the item's newest content: a replace
    /// whose version records `Action::Revert`. History is never rewritten:
    /// the revert is a new version (none when it changes nothing).
    pub async fn revert_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<Written, Error> {
        let pending = Pending::of_status(status);
        self.rewrite(w, Some(Made::Revert), pending, status, values, refs)
            .await
    }

    /// A publish schedule firing (`schedules`): the item's newest content,
    /// as checked against today's schema and references (`values`,
    /// `refs`), published by a write conditioned on the item holding the
    /// schedule's id, which ends the schedule (done) in the same commit.
    /// `Error::Conflict` when the item no longer holds it (cancelled).
    pub async fn fire_publish(
        &self,
        w: &ItemWrite<'_>,
        schedule: &Schedule,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<Written, Error> {
        let publish = Some(Status::Published);
        self.rewrite(w, None, Pending::Fire(schedule), publish, values, refs)
            .await
    }

    /// An unpublish schedule firing: as `unpublish`, conditioned as
    /// `fire_publish` is.
    pub async fn fire_unpublish(
        &self,
        w: &ItemWrite<'_>,
        schedule: &Schedule,
    ) -> Result<Written, Error> {
        self.change(w, Some(Made::Unpublish), Pending::Fire(schedule), |old| {
            Ok(old.unpublished(w.now))
        })
        .await
    }

    /// Replace and revert: every field of the newest content, the version
    /// kept `made` so (None: an update or publish).
    async fn rewrite(
        &self,
        w: &ItemWrite<'_>,
        made: Option<Made>,
        pending: Pending<'_>,
        status: Option<Status>,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<Written, Error> {
        let fields = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(values)
            .map_err(Error::internal)?;
        if item_size(&HashMap::from([("fields".to_owned(), fields)])) > MAX_ITEM_BYTES - 4096 {
            return Err(too_large(""));
        }
        check_target_limit(refs, "")?;
        let refs = encode_refs(refs);
        self.change(w, made, pending, |old| {
            Ok(Some(old.written(
                status,
                values.clone(),
                refs.clone(),
                w.now,
            )))
        })
        .await
    }

    /// Changes only the given fields of a live item's newest content
    /// (PATCH), on the item as read: a patch racing another plans again on
    /// it, so concurrent patches of different fields all survive.
    /// `ref_fields` holds the new references of every patched reference field.
    pub async fn patch_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        changes: &BTreeMap<String, Option<Value>>,
        ref_fields: &BTreeMap<String, Vec<OutRef>>,
    ) -> Result<Written, Error> {
        let patch_size: usize = changes
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
            .map(|(k, v)| {
                serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(v)
                    .map(|v| item_size(&HashMap::from([(k.clone(), v)])))
            })
            .sum::<Result<usize, _>>()
            .map_err(Error::internal)?;
        if patch_size > MAX_ITEM_BYTES {
            return Err(too_large(""));
        }
        self.change(w, None, Pending::of_status(status), |old| {
            let mut fields = old.fields.clone();
            for (k, v) in changes {
                match v {
                    Some(v) => fields.insert(k.clone(), v.clone()),
                    None => fields.remove(k),
                };
            }
            let mut refs: Vec<OutRef> = newest_refs(old)
                .into_iter()
                .filter(|r| !ref_fields.contains_key(&r.field))
                .collect();
            refs.extend(ref_fields.values().flatten().cloned());
            refs.sort();
            check_target_limit(&refs, "")?;
            Ok(Some(old.written(status, fields, encode_refs(&refs), w.now)))
        })
        .await
    }

    /// Takes a live item off the live site (`POST …/unpublish/`): its
    /// newest content stays, as a draft. A draft already: unchanged. It
    /// cancels a pending unpublish schedule.
    pub async fn unpublish(&self, w: &ItemWrite<'_>) -> Result<Written, Error> {
        let cancel = Pending::Cancel(folio_core::schedule::ScheduleAction::Unpublish);
        self.change(w, Some(Made::Unpublish), cancel, |old| {
            Ok(old.unpublished(w.now))
        })
        .await
    }

    /// The item a write is about, read (strongly consistent) when a write
    /// needs it before writing: live and at the version the client expects.
    pub(crate) async fn read_writable(&self, w: &ItemWrite<'_>) -> Result<ItemRecord, Error> {
        let item = self
            .get_item(w.org, w.collection, &w.id)
            .await?
            .ok_or(Error::NotFound)?;
        still_writable(&item, w.expected)?;
        Ok(item)
    }

    /// The shared path of every change of a live item: `plan(old)` is the
    /// item after the write (None: nothing to do), the version it keeps
    /// `made` so (None: an update, or a publish when it makes the newest
    /// content live). The item is read, then written conditioned on the
    /// version read; `pending` says what the write does to its schedules
    /// (a fire finding its id gone from the item is `Error::Conflict`).
    pub(crate) async fn change<F>(
        &self,
        w: &ItemWrite<'_>,
        made: Option<Made>,
        pending: Pending<'_>,
        plan: F,
    ) -> Result<Written, Error>
    where
        F: Fn(&ItemRecord) -> Result<Option<ItemRecord>, Error>,
    {
        let mut retry =
            Retry::new(w.attempts("write")).unexpected("unexpected idempotency failure");
        let mut known = self.read_writable(w).await?;
        let mut gone = BTreeSet::new();
        loop {
            let attempts = retry.next()?;
            if let Pending::Fire(s) = pending {
                if known.pending(s.action) != Some(s.id.as_str()) {
                    return Err(Error::Conflict("The schedule was cancelled.".into()));
                }
            }
            let unchanged = Written {
                version: known.version,
                old_status: known.status,
                changed: false,
            };
            let Some(new) = plan(&known)?.filter(|new| known.changed_by(new)) else {
                if !pending.touches(&known) {
                    return Ok(unchanged);
                }
                // The content stays; the schedules move.
                match self.commit(pending_ops(w, &known, pending), attempts).await {
                    Ok(_) => return Ok(unchanged),
                    Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                    Err(WriteFailure::Item(Some(now))) => {
                        still_writable(&now, w.expected)?;
                        known = *now;
                        retry.lost_race().await;
                    }
                    // A fire's schedule ended meanwhile; a cancelled one was
                    // ended by another request: plan again on the item.
                    Err(WriteFailure::Schedule) => match pending {
                        Pending::Fire(_) => {
                            return Err(Error::Conflict("The schedule has ended.".into()))
                        }
                        _ => {
                            known = self.read_writable(w).await?;
                            retry.lost_race().await;
                        }
                    },
                    Err(f) => retry.failed(f).await?,
                }
                continue;
            };
            // Both versions' references share the item's edges and the
            // transaction bound.
            let held = decode_refs(&new);
            check_target_limit(&held, "")?;
            let made = made.unwrap_or_else(|| Made::of_write(known.status, new.status));
            let ops = move_ops(
                w,
                (&known, &new),
                made,
                pending,
                attempts.write_token(),
                &gone,
            )?;
            match self.commit(ops, attempts).await {
                Ok(Committed::Done(_)) => {
                    return Ok(Written {
                        version: new.version,
                        old_status: known.status,
                        changed: true,
                    })
                }
                Ok(Committed::AlreadyDone(now)) => {
                    return Ok(Written {
                        version: now.version,
                        old_status: now.status,
                        changed: true,
                    })
                }
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(now))) => {
                    // Another writer landed first: plan again on its item.
                    still_writable(&now, w.expected)?;
                    known = *now;
                    retry.lost_race().await;
                }
                Err(WriteFailure::MissingTargets(missing)) => {
                    return Err(Error::Invalid(missing_target_errors(&missing, &held, "")));
                }
                Err(WriteFailure::GoneTargets(g)) => gone.extend(g),
                // Only with indexed fields: replacing every one of 24
                // references by 24 others while indexed values change.
                Err(WriteFailure::TooMany) => {
                    return Err(Error::bad_request(
                        "This write changes more than 100 stored records (the item, its old and new references, its index entries); change fewer references at once.",
                    ))
                }
                Err(WriteFailure::TooLarge) => return Err(too_large("")),
                Err(WriteFailure::Schedule) => {
                    return Err(Error::Conflict("The schedule has ended.".into()))
                }
                Err(f) => retry.failed(f).await?,
            }
        }
    }
}
