//! Building indexed fields' entries (`store::entries`): a build purges
//! whatever entries the fields to build have (left from an earlier
//! indexing; once per definition, under a job record), then writes every
//! live item's entries, each in a transaction conditioned on the item's
//! version, and marks the fields built unless the schema changed meanwhile.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};

use super::{entry_ops, field_list, locale_value, Indexing};
use crate::commit::{Action, Attempts, EntryKeys, Op, Retry, Role, WriteFailure};
use crate::expr::Expr;
use crate::keys;
use crate::record::when_live;
use crate::sdk::from_sdk;
use crate::Store;
use folio_core::content::ItemRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, FieldKey, OrgId};
use folio_core::schema::{Collection, Org};

/// What a build of indexed fields did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    /// Entries of the building fields removed before the build.
    pub purged: usize,
    /// Live items whose entries were written.
    pub items: usize,
}

/// How long until `settle` has passed since `changed` (RFC 3339); zero
/// once it has.
pub fn settle_left(
    changed: &str,
    settle: std::time::Duration,
) -> Result<std::time::Duration, Error> {
    let changed =
        time::OffsetDateTime::parse(changed, &time::format_description::well_known::Rfc3339)
            .map_err(Error::internal)?;
    let left = (changed + settle) - time::OffsetDateTime::now_utc();
    Ok(if left.is_positive() {
        left.unsigned_abs()
    } else {
        std::time::Duration::ZERO
    })
}

/// The job records' event id of the build of one definition.
pub fn build_job(org: &OrgId, collection: &CollectionKey, schema_at: &str) -> String {
    format!("build#{org}#{collection}#{schema_at}")
}

/// The job record of a build's purge (`Store::purge_once`).
const PURGE_JOB: &str = "index_build:purge";

/// Added to the functions' schema cache time before a build relies on
/// every instance writing the new entries: a request that read the old
/// definition just before the change may commit up to its function's
/// timeout (10 s) later; the rest is for clocks.
pub const SETTLE_MARGIN: std::time::Duration = std::time::Duration::from_secs(15);

/// One page of a build: the live items whose entries were written, and
/// the cursor after it (None: the last page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPage {
    pub items: usize,
    pub next: Option<String>,
}

/// A build's position in the `live` index (its LastEvaluatedKey: string
/// keys only) as text a queue message carries.
mod build_cursor {
    use std::collections::{BTreeMap, HashMap};

    use aws_sdk_dynamodb::types::AttributeValue;

    use folio_core::error::Error;

    pub fn encode(key: &HashMap<String, AttributeValue>) -> Result<String, Error> {
        let strings: BTreeMap<&str, &str> = key
            .iter()
            .map(|(k, v)| {
                v.as_s()
                    .map(|s| (k.as_str(), s.as_str()))
                    .map_err(|_| Error::internal(format!("a live index key `{k}` is not a string")))
            })
            .collect::<Result<_, _>>()?;
        serde_json::to_string(&strings).map_err(Error::internal)
    }

    pub fn decode(text: &str) -> Result<HashMap<String, AttributeValue>, Error> {
        let strings: BTreeMap<String, String> = serde_json::from_str(text)
            .map_err(|e| Error::internal(format!("a build cursor: {e}")))?;
        Ok(strings
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

/// Items whose entries are written at once during a build.
const BUILD_CONCURRENCY: usize = 8;
/// Entries one purge transaction deletes (each with up to one value count).
const PURGE_GROUP: usize = 40;
/// Items read from the `live` index per request during a build.
pub const BUILD_PAGE: i32 = 100;
/// Old entries listed (and then deleted) per request during a purge.
pub const PURGE_PAGE: i32 = 400;

/// How far a purge got: the entries it deleted, and whether none is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub entries: usize,
    pub done: bool,
}

impl Store {
    /// Builds the entries of the collection's `building` fields in one go
    /// (`folio-admin index build`): `purge_building`, every `build_page`,
    /// then `finish_build`. The worker runs the same steps across messages.
    ///
    /// Only sound once every instance's cached schema includes these
    /// fields as indexed (`FOLIO_SCHEMA_CACHE_SECONDS` after the schema
    /// changed): the caller waits for that (`Store::reindex` does).
    pub async fn build_index(&self, org: &Org, collection: &Collection) -> Result<Built, Error> {
        // A claim of 900 s, purged 300 s at a time: a claim outlives the
        // pages it lets through, so a purge never runs on past its lease
        // into entries a build (the worker's, claiming after it) wrote.
        let mut built = Built::default();
        loop {
            let purged = self
                .purge_once(
                    org,
                    collection,
                    std::time::Duration::from_secs(900),
                    PURGE_PAGE,
                    Some(std::time::Duration::from_secs(300)),
                )
                .await?;
            built.purged += purged.entries;
            if purged.done {
                break;
            }
        }
        // Each build's transactions carry tokens of their own: DynamoDB
        // takes a token seen in the last 10 minutes as a retry.
        let run = ulid::Ulid::new().to_string();
        let mut after = None;
        loop {
            let page = self
                .build_page(org, collection, after.as_deref(), BUILD_PAGE, &run)
                .await?;
            built.items += page.items;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        self.finish_build(org, collection).await?;
        Ok(built)
    }

    /// The fields a build writes: those `building`, or all indexed fields
    /// when the entries were built in another default locale (they hold
    /// other values). Empty: nothing to build.
    pub fn build_fields(org: &Org, collection: &Collection) -> BTreeSet<FieldKey> {
        if collection.index_locale == org.default_locale {
            collection.building.clone()
        } else {
            collection.indexed_fields().map(|f| f.key.clone()).collect()
        }
    }

    /// A build's first step, once per definition (`updated_at`) whoever
    /// builds it (the worker, `folio-admin index build`, a message
    /// delivered again): `purge_building` under the job record
    /// `build#<org>#<collection>#<updated_at>` / `index_build:purge`, so
    /// that no purge removes what a build of the same definition already
    /// wrote. A purge already done: 0, done. One running elsewhere: a 409.
    ///
    /// With a `budget`, it stops after the page that passes it, leaving
    /// the rest (`done: false`) to the next call, which claims the purge
    /// again and lists what is left from the start; the purge counts as
    /// done, and a build may write, only once a call pages through to the
    /// end within its budget.
    pub async fn purge_once(
        &self,
        org: &Org,
        collection: &Collection,
        lease: std::time::Duration,
        page: i32,
        budget: Option<std::time::Duration>,
    ) -> Result<Purged, Error> {
        use crate::jobs::Claim;
        let event = build_job(&org.id, &collection.key, &collection.updated_at);
        let runs = match self.claim_job(&event, PURGE_JOB, lease).await? {
            Claim::Done => {
                return Ok(Purged {
                    entries: 0,
                    done: true,
                })
            }
            Claim::Busy => {
                return Err(Error::Conflict(
                    "Another build of this definition is removing its old index entries; try again shortly.".into(),
                ))
            }
            Claim::Claimed { runs } => runs,
        };
        // Finished or handed back by this claim only: a purge that outlived
        // its lease (and was claimed again) neither marks the purge done
        // nor reopens one another run has finished.
        match self.purge_building(org, collection, page, budget).await {
            Ok(purged) if purged.done => {
                let finished = self.finish_claim(&event, PURGE_JOB, runs).await?;
                Ok(Purged {
                    done: finished,
                    ..purged
                })
            }
            Ok(purged) => {
                self.release_claim(&event, PURGE_JOB, runs).await?;
                Ok(purged)
            }
            Err(e) => {
                if let Err(release) = self.release_claim(&event, PURGE_JOB, runs).await {
                    tracing::warn!(error = %release, "could not release the purge; its lease runs out");
                }
                Err(e)
            }
        }
    }

    /// Removes whatever entries the fields to build have (left from an
    /// earlier indexing), with their value counts, `page` at a time; with
    /// a `budget`, it stops after the page that passes it (`done: false`).
    async fn purge_building(
        &self,
        org: &Org,
        collection: &Collection,
        page: i32,
        budget: Option<std::time::Duration>,
    ) -> Result<Purged, Error> {
        let deadline = budget.map(|b| std::time::Instant::now() + b);
        let mut purged = Purged::default();
        for field in Self::build_fields(org, collection) {
            for side in keys::Side::ALL {
                let (entries, done) = self
                    .purge_entries(&org.id, &collection.key, &field, side, page, deadline)
                    .await?;
                purged.entries += entries;
                if !done {
                    return Ok(purged);
                }
            }
        }
        purged.done = true;
        Ok(purged)
    }

    /// Writes the entries of one page of live items (`limit` of them, in
    /// the `live` index's order, after the cursor `after`), each in a
    /// transaction conditioned on the item's version (a write racing the
    /// build wins, and the build writes what it wrote). `run` makes the
    /// transactions' tokens (one per build run).
    pub async fn build_page(
        &self,
        org: &Org,
        collection: &Collection,
        after: Option<&str>,
        limit: i32,
        run: &str,
    ) -> Result<BuildPage, Error> {
        let ix = Indexing::of(org, collection).only(&Self::build_fields(org, collection));
        let out = self
            .live_query(&org.id, &collection.key)
            .set_exclusive_start_key(after.map(build_cursor::decode).transpose()?)
            .limit(limit)
            .send()
            .await
            .map_err(from_sdk)?;
        let items: Vec<ItemRecord> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(crate::commit::parse_record)
            .collect::<Result<_, _>>()?;
        let items = futures::stream::iter(items)
            .map(|item| self.write_entries(&ix, item, run))
            .buffer_unordered(BUILD_CONCURRENCY)
            .try_fold(0usize, |n, wrote| async move { Ok(n + usize::from(wrote)) })
            .await?;
        Ok(BuildPage {
            items,
            next: out
                .last_evaluated_key
                .map(|k| build_cursor::encode(&k))
                .transpose()?,
        })
    }

    /// A build's last step: marks the built fields built (and the
    /// collection counted once all its indexed fields are), unless the
    /// schema changed since `collection` was read (a 409: build again).
    pub async fn finish_build(&self, org: &Org, collection: &Collection) -> Result<(), Error> {
        let fields = Self::build_fields(org, collection);
        let all = collection.indexed_fields().all(|f| fields.contains(&f.key));
        self.mark_built(org, collection, all).await
    }

    /// Writes one item's entries, as it is at its version; false when it
    /// is no longer live.
    async fn write_entries(
        &self,
        ix: &Indexing,
        mut item: ItemRecord,
        run: &str,
    ) -> Result<bool, Error> {
        let attempts = Attempts::new(&format!("build#{run}#{}#{}", item.collection, item.id));
        let mut retry = Retry::new(attempts).unexpected("an entry build failed as a link would");
        loop {
            let attempts = retry.next()?;
            if !item.is_live(crate::now_epoch()) {
                return Ok(false);
            }
            let mut expr = Expr::new();
            when_live(&mut expr);
            expr.when_equals("version", AttributeValue::N(item.version.to_string()));
            let mut ops = vec![Op {
                role: Role::Item,
                action: Action::Check {
                    key: keys::item(&item.org, &item.collection, &item.id),
                    expr,
                },
            }];
            ops.extend(entry_ops(
                &item.org,
                &item.collection,
                &item.id,
                ix,
                None,
                Some(&item),
            ));
            match self.commit(ops, attempts).await {
                Ok(_) => return Ok(true),
                Err(WriteFailure::Item(Some(now))) => item = *now,
                Err(WriteFailure::Item(None)) => return Ok(false),
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Deletes every entry in one partition of `field`'s entries, with
    /// their value counts, a page of `page` at a time: in transactions of
    /// `PURGE_GROUP` entries, each conditioned on the entry as listed (one
    /// a racing write moved is deleted as it is then; one listed again on
    /// a later page is found gone and left). Stops after the page that
    /// passes `deadline` if more may follow. Returns (deleted, done).
    async fn purge_entries(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        field: &FieldKey,
        side: keys::Side,
        page: i32,
        deadline: Option<std::time::Instant>,
    ) -> Result<(usize, bool), Error> {
        let partition = keys::field_partition(org, collection, field.as_str(), side);
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(keys::FIELD_INDEX)
            .key_condition_expression("#pk = :p")
            .expression_attribute_names("#pk", keys::IX_PK)
            .expression_attribute_values(":p", AttributeValue::S(partition))
            .limit(page.max(1))
            .into_paginator()
            .send();
        let run = ulid::Ulid::new().to_string();
        let mut n = 0;
        let mut round = 0;
        while let Some(listed) = pages.next().await {
            let listed = listed.map_err(from_sdk)?;
            let more = listed.last_evaluated_key().is_some();
            // By key: one transaction may touch an item once.
            let mut deletes = BTreeMap::new();
            for entry in listed.items() {
                let key: HashMap<String, AttributeValue> = [keys::PK, keys::SK]
                    .into_iter()
                    .filter_map(|k| Some((k.to_owned(), entry.get(k)?.clone())))
                    .collect();
                // The index does not hold `counted`: believed counted, and
                // learned otherwise.
                let from = EntryKeys::of(entry).map(|e| EntryKeys { counted: true, ..e });
                let id = [keys::PK, keys::SK].map(|k| key.get(k).map(|v| format!("{v:?}")));
                deletes.insert(id, (key, from));
            }
            let deletes: Vec<_> = deletes.into_values().collect();
            n += deletes.len();
            let mut sends = Vec::new();
            for chunk in deletes.chunks(PURGE_GROUP) {
                let ops = chunk
                    .iter()
                    .map(|(key, from)| Op {
                        role: Role::Entry,
                        action: Action::Entry {
                            key: key.clone(),
                            from: from.clone(),
                            to: None,
                        },
                    })
                    .collect();
                sends.push(self.purge_group(ops, format!("purge#{run}#{round}")));
                round += 1;
            }
            futures::stream::iter(sends)
                .buffer_unordered(BUILD_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            if more && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok((n, false));
            }
        }
        Ok((n, true))
    }

    async fn purge_group(&self, ops: Vec<Op>, request: String) -> Result<(), Error> {
        let mut retry =
            Retry::new(Attempts::new(&request)).unexpected("an entry purge failed as a link would");
        loop {
            let attempts = retry.next()?;
            match self.commit(ops.clone(), attempts).await {
                Ok(_) => return Ok(()),
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Marks the building fields built, in the organization's default
    /// locale, if the schema is as it was read.
    async fn mark_built(&self, org: &Org, collection: &Collection, all: bool) -> Result<(), Error> {
        let mut expr = Expr::new();
        expr.set_value("building", field_list(&BTreeSet::new()));
        expr.set_value("index_locale", locale_value(org.default_locale.as_ref()));
        // Once every indexed field is built, no entry is left uncounted
        // (one written before value counts existed).
        if all {
            expr.set_value("counted", AttributeValue::Bool(true));
        }
        self.update_unchanged(
            &org.id,
            collection,
            expr,
            "The collection's schema changed during the build; build again.",
        )
        .await
    }

    /// Applies `expr` to the collection's record if its definition is still
    /// the one read (`updated_at`); else a 409 saying `changed`.
    async fn update_unchanged(
        &self,
        org: &OrgId,
        read: &Collection,
        mut expr: Expr,
        changed: &str,
    ) -> Result<(), Error> {
        expr.when_equals("updated_at", AttributeValue::S(read.updated_at.clone()));
        let out = self
            .update_with(keys::collection(org, &read.key), &expr)
            .send()
            .await;
        if crate::applied(out, |e| e.is_conditional_check_failed_exception())? {
            Ok(())
        } else {
            Err(Error::Conflict(changed.into()))
        }
    }

    /// `folio-admin index build`: builds what a collection's indexes lack (the
    /// fields still building, or all of them when `all` or when the
    /// organization's default locale changed since they were built), once
    /// `settle` (the functions' schema cache time) has passed since the
    /// schema last changed, so that every instance writes their entries.
    pub async fn reindex(
        &self,
        org: &OrgId,
        key: &CollectionKey,
        all: bool,
        settle: std::time::Duration,
    ) -> Result<Built, Error> {
        let org = self.org_settings(org).await?;
        let mut collection = self
            .get_collection(&org.id, key)
            .await?
            .ok_or(Error::NotFound)?;
        if collection.indexed_fields().next().is_none() {
            return Ok(Built::default());
        }
        if all {
            collection = self
                .mark_building(&org.id, &collection, &folio_core::clock::now())
                .await?;
        } else if Self::build_fields(&org, &collection).is_empty() {
            return Ok(Built::default());
        }
        tokio::time::sleep(settle_left(&collection.updated_at, settle)?).await;
        self.build_index(&org, &collection).await
    }

    /// Saves an organization's settings; when its default locale changes,
    /// every collection with indexed fields is marked building (their
    /// entries hold the old locale's values), so that lists by them are
    /// served from memory and the next build waits until every instance
    /// has the new settings. Returns the collections marked.
    pub async fn put_org_and_mark(&self, org: &Org) -> Result<Vec<CollectionKey>, Error> {
        let before = self.get_org(&org.id).await?;
        self.put_org(org).await?;
        let was = before.and_then(|o| o.default_locale);
        if was == org.default_locale {
            return Ok(Vec::new());
        }
        let mut marked = Vec::new();
        for c in self.list_collections(&org.id).await? {
            if c.indexed_fields().next().is_some() {
                self.mark_building(&org.id, &c, &folio_core::clock::now())
                    .await?;
                marked.push(c.key);
            }
        }
        Ok(marked)
    }

    /// Marks every indexed field of the collection as building (to rebuild
    /// them all: after the organization's default locale changed, or to
    /// repair), as a schema change at `now`. Returns the collection as stored.
    pub async fn mark_building(
        &self,
        org: &OrgId,
        collection: &Collection,
        now: &str,
    ) -> Result<Collection, Error> {
        let fields: BTreeSet<FieldKey> =
            collection.indexed_fields().map(|f| f.key.clone()).collect();
        let mut expr = Expr::new();
        expr.set_value("building", field_list(&fields));
        expr.set_value("updated_at", AttributeValue::S(now.to_owned()));
        self.update_unchanged(
            org,
            collection,
            expr,
            "The collection's schema changed meanwhile; try again.",
        )
        .await?;
        Ok(Collection {
            building: fields,
            updated_at: now.to_owned(),
            ..collection.clone()
        })
    }
}
