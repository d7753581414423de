//! Bulk loading (`Store::load_items`) for tests, benchmarks and imports
//! run by hand; no function calls it. It is not behind a cargo feature on
//! purpose: the tests and the benchmark turning one on would make cargo
//! build the store and the application twice (with and without it), and
//! `cargo lambda watch` compile while `make dev` or the contract run serve.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt};

use super::commit::{Action, Op, Role};
use super::entries::{entry_ops, Indexing};
use super::keys;
use super::pages::{count_op, value_count_op, Tally};
use super::record::{live_item, live_listing_op};
use super::refs::{edge_ops, RefChange};
use super::writes::decode_refs;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::{ItemRecord, OutRef};
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, OrgId};

/// Items one `BatchWriteItem` writes, and such requests in flight at once.
const BATCH_WRITE_ITEMS: usize = 25;
const LOAD_CONCURRENCY: usize = 4;

impl Store {
    /// Loads new items in bulk (`BatchWriteItem`, 25 writes a request),
    /// in any state (an item with a draft with its live version's listing
    /// and entries), without versions,
    /// with their entries for the fields `ix` indexes and the edges of
    /// their references, then adds them to their collections' counts and
    /// their `restrict` referrers to their targets' counters: for
    /// benchmarks and imports into a collection no one else writes
    /// meanwhile. The targets must be live when it starts and outside the
    /// load. Not atomic and not conditional (an existing id is overwritten,
    /// and loading the same items again adds their `restrict` referrers to
    /// the counters again); requests use `create_items`.
    pub async fn load_items(&self, records: &[ItemRecord], ix: &Indexing) -> Result<(), Error> {
        let mut tallies: std::collections::BTreeMap<(&OrgId, &CollectionKey), Tally> =
            Default::default();
        let mut values: std::collections::BTreeMap<(String, String), i64> = Default::default();
        let mut writes = Vec::with_capacity(records.len());
        let put = |item| -> Result<WriteRequest, Error> {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(Error::internal)?;
            Ok(WriteRequest::builder().put_request(put).build())
        };
        let refs: Vec<Vec<OutRef>> = records.iter().map(decode_refs).collect();
        let mut changes: std::collections::BTreeMap<&OrgId, Vec<RefChange>> = Default::default();
        for (r, refs) in records.iter().zip(&refs) {
            if !r.is_live(super::now_epoch()) {
                return Err(Error::internal("load_items takes live items"));
            }
            if !refs.is_empty() {
                changes.entry(&r.org).or_default().push(RefChange {
                    collection: &r.collection,
                    id: r.id,
                    old: &[],
                    new: refs,
                });
            }
            let t = tallies.entry((&r.org, &r.collection)).or_default();
            *t = t.plus(Tally::of(r.status));
            writes.push(put(live_item(r)?)?);
            // An item with a draft: the published view's listing of its live version.
            if let Some(Op {
                action: Action::Put { item, .. },
                ..
            }) = live_listing_op(None, Some(r))
            {
                writes.push(put(item)?);
            }
            for op in entry_ops(&r.org, &r.collection, &r.id, ix, None, Some(r)) {
                if let Action::Entry {
                    key, to: Some(to), ..
                } = op.action
                {
                    if let Some((partition, value)) = to.value() {
                        *values
                            .entry((partition.to_owned(), value.to_owned()))
                            .or_default() += 1;
                    }
                    writes.push(put(to.item(&key))?);
                }
            }
        }
        // Edges as the creates would put them; per target, one counter
        // update for all its `restrict` referrers (applied with the counts).
        let mut counters = Vec::new();
        for (org, changes) in &changes {
            let ops = edge_ops(org, changes, &Default::default());
            let mut targets = Vec::new();
            for op in ops {
                match (op.role, op.action) {
                    (Role::Edge, Action::Put { item, .. }) => writes.push(put(item)?),
                    (Role::Link(t), Action::Update { key, expr }) => {
                        targets.push(t);
                        counters.push(Op {
                            role: Role::Item,
                            action: Action::Update { key, expr },
                        });
                    }
                    (Role::Link(t), Action::Check { .. }) => targets.push(t),
                    _ => return Err(Error::internal("a loaded item only links")),
                }
            }
            let found = self.get_items(org, &targets).await?;
            if let Some((c, id)) = targets.iter().find(|t| {
                !found
                    .get(*t)
                    .is_some_and(|item| item.is_live(super::now_epoch()))
            }) {
                return Err(Error::internal(format!(
                    "load_items: the referenced item {c}/{id} is not live"
                )));
            }
        }
        let batches: Vec<Vec<WriteRequest>> = writes
            .chunks(BATCH_WRITE_ITEMS)
            .map(<[_]>::to_vec)
            .collect();
        futures::stream::iter(batches)
            .map(|w| self.write_batch(w))
            .buffer_unordered(LOAD_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        let counts = tallies
            .into_iter()
            .filter_map(|((org, collection), tally)| count_op(org, collection, tally))
            .chain(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, ((partition, value), n))| {
                        value_count_op(partition, value, *n, i as u32 % keys::COUNT_SHARDS)
                    }),
            )
            .chain(counters);
        futures::stream::iter(counts)
            // Outside a transaction, each with its condition (a target's
            // counter: still live).
            .map(|op| self.write_one(op))
            .buffer_unordered(LOAD_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// One `BatchWriteItem`, its unprocessed items retried with backoff.
    pub(crate) async fn write_batch(&self, writes: Vec<WriteRequest>) -> Result<(), Error> {
        let mut pending = Some(writes);
        let mut rounds = 0u32;
        while let Some(w) = pending.take().filter(|w| !w.is_empty()) {
            rounds += 1;
            if rounds > 10 {
                return Err(Error::internal("BatchWriteItem left items unprocessed"));
            }
            if rounds > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << rounds.min(6))).await;
            }
            let out = self
                .ddb
                .batch_write_item()
                .request_items(&self.table, w)
                .send()
                .await
                .map_err(from_sdk)?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table));
        }
        Ok(())
    }
}
