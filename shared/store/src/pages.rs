//! Listings paged by DynamoDB: counts, and the keys of one page.
//!
//! Two keys-only indexes hold live items in the orders a listing can be
//! served in: `by_created` (sort key: the id, a ULID, so creation order) and
//! `by_updated` (`<updated_at>#<id>`). Their partition `vis_pk` is the
//! collection and the views that list the entry (`keys::Side`: `…#p`
//! published, `…#d` a draft, `…#l` the live version of an item with a
//! draft), so a published listing merges `p` and `l` and a preview `p` and
//! `d`, each item once; each
//! reads only the keys of the page (plus one, to know whether more follow),
//! and the page's items are then fetched by key. Reaching page N reads the
//! keys before it; a cursor (the last sort key shown) reads none.
//!
//! Counts are kept in the write that changes them, spread over
//! `COUNT_SHARDS` shard items per collection (`n_live`, `n_pub`), so no
//! single counter item is written by every create and delete: a write adds
//! to one shard in its own transaction (an instance's writes take the
//! shards in turn), and a count is one strongly consistent Query of the
//! shards, exact at once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, Select};

use super::commit::{Action, Op, Role};
use super::expr::Expr;
use super::keys;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::State;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, FieldKey, ItemId, OrgId};

/// Keys one Query may fetch while reaching a deep page.
const KEYS_PER_QUERY: usize = 1000;

/// The change a write makes to its collection's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub live: i64,
    pub published: i64,
}

impl Tally {
    /// One live item in `state` (published: it has a live version).
    pub fn of(state: State) -> Tally {
        Tally {
            live: 1,
            published: i64::from(state.is_live()),
        }
    }

    /// From an item in state `old` (None: not live) to `new`.
    pub fn change(old: Option<State>, new: Option<State>) -> Tally {
        let side = |s: Option<State>| s.map(Tally::of).unwrap_or_default();
        let (a, b) = (side(old), side(new));
        Tally {
            live: b.live - a.live,
            published: b.published - a.published,
        }
    }

    pub fn plus(self, other: Tally) -> Tally {
        Tally {
            live: self.live + other.live,
            published: self.published + other.published,
        }
    }
}

/// The next count shard this instance writes: consecutive writes take
/// consecutive shards (from a random start), so the writes one instance
/// has in flight at once (a batch delete runs 25) never meet on a shard,
/// and instances rarely do.
fn next_shard() -> u32 {
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let mut bytes = [0u8; 4];
        AtomicU32::new(getrandom::fill(&mut bytes).map_or(0, |_| u32::from_le_bytes(bytes)))
    });
    next.fetch_add(1, Ordering::Relaxed) % keys::COUNT_SHARDS
}

/// The write of `tally` to one count shard of the collection; None when
/// nothing changes.
pub(crate) fn count_op(org: &OrgId, collection: &CollectionKey, tally: Tally) -> Option<Op> {
    if tally == Tally::default() {
        return None;
    }
    let mut expr = Expr::new();
    expr.add_number("n_live", tally.live);
    expr.add_number("n_pub", tally.published);
    Some(Op {
        role: Role::Count,
        action: Action::Update {
            key: keys::count_shard(org, collection, next_shard()),
            expr,
        },
    })
}

/// The update of one shard of a value count (`keys::value_count`) by `n`.
pub(crate) fn value_count_op(ix_pk: &str, value: &str, n: i64, shard: u32) -> Op {
    let mut expr = Expr::new();
    expr.add_number("n", n);
    Op {
        role: Role::Count,
        action: Action::Update {
            key: keys::value_count(ix_pk, value, shard),
            expr,
        },
    }
}

/// Read capacity consumed by listing reads (counts, index pages, item
/// fetches), in thousandths of a unit: what a benchmark or test reads
/// around a request.
#[derive(Debug, Default)]
pub struct ReadMeter(AtomicU64);

impl ReadMeter {
    pub fn units(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub(crate) fn record(&self, c: Option<&ConsumedCapacity>) {
        if let Some(units) = c.and_then(ConsumedCapacity::capacity_units) {
            self.0
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }
}

/// An order DynamoDB serves a listing in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sorted {
    /// Creation order (ids are ULIDs).
    Created,
    /// Last write, then id.
    Updated,
    /// An indexed field's value, then id (`store::entries`).
    Field(FieldKey),
}

impl Sorted {
    /// The index, its partition attribute and its sort key attribute.
    fn index(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Sorted::Created => (keys::CREATED_INDEX, keys::VIS_PK, keys::CR_SK),
            Sorted::Updated => (keys::UPDATED_INDEX, keys::VIS_PK, keys::UP_SK),
            Sorted::Field(_) => (keys::FIELD_INDEX, keys::IX_PK, keys::IX_SK),
        }
    }
}

/// One listing page to find.
#[derive(Debug, Clone)]
pub struct PageQuery<'a> {
    pub org: &'a OrgId,
    pub collection: &'a CollectionKey,
    pub sorted: Sorted,
    pub descending: bool,
    /// Drafts too (a preview listing).
    pub preview: bool,
    /// Only entries after this sort key, in the listing's direction (a cursor).
    pub after: Option<&'a str>,
    /// `Sorted::Updated` only: items last written after this stored time.
    pub updated_after: Option<&'a str>,
    /// `Sorted::Field` only: entries whose sort key starts with this (an
    /// encoded value and its `#`: `content::order::filter`).
    pub equals: Option<&'a str>,
    /// Entries to pass over before the page.
    pub skip: usize,
    pub take: usize,
}

/// An entry of a listing: its sort key and the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sort_key: String,
    pub id: ItemId,
}

/// A lower bound above every sort key of items written at or before `t`
/// (ids never hold `~`).
fn written_after_bound(t: &str) -> String {
    format!("{t}#~")
}

impl PageQuery<'_> {
    fn partitions(&self) -> Vec<String> {
        let partition = |side| match &self.sorted {
            Sorted::Field(f) => keys::field_partition(self.org, self.collection, f.as_str(), side),
            _ => keys::visibility_partition(self.org, self.collection, side),
        };
        keys::Side::read_by(self.preview).map(partition).to_vec()
    }

    /// The exclusive bounds of the sort keys wanted: (low, high).
    fn bounds(&self) -> (Option<String>, Option<String>) {
        let mut lows = Vec::new();
        let mut highs = Vec::new();
        if let Some(t) = self
            .updated_after
            .filter(|_| self.sorted == Sorted::Updated)
        {
            lows.push(written_after_bound(t));
        }
        if let Some(p) = self
            .equals
            .filter(|_| matches!(self.sorted, Sorted::Field(_)))
        {
            // Every `<value>#<id>` lies strictly between `<value>#` and
            // `<value>$` ('$' follows '#').
            lows.push(p.to_owned());
            highs.push(format!("{}$", p.trim_end_matches('#')));
        }
        if let Some(after) = self.after {
            if self.descending {
                highs.push(after.to_owned());
            } else {
                lows.push(after.to_owned());
            }
        }
        (lows.into_iter().max(), highs.into_iter().min())
    }
}

/// One partition's entries, read a Query at a time.
struct Run {
    partition: String,
    buffered: VecDeque<Entry>,
    start: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

impl Store {
    pub fn read_meter(&self) -> &ReadMeter {
        &self.reads
    }

    /// A collection's live items (preview) or published ones: the sum of
    /// its count shards, exact the moment a write commits (unlike an index).
    pub async fn count_items(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        preview: bool,
    ) -> Result<u64, Error> {
        let attr = if preview { "n_live" } else { "n_pub" };
        let total = self
            .sum_shards(keys::count_pk(org, collection), None, attr)
            .await?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// How many entries of a listing filtered on an indexed field hold the
    /// value (`q.equals`): the sum of its value count shards, one strongly
    /// consistent Query per visibility, whatever the number of matches.
    pub async fn count_value(&self, q: &PageQuery<'_>) -> Result<u64, Error> {
        let Some(value) = q.equals else {
            return self.count_entries(q).await;
        };
        let mut total = 0i64;
        for partition in q.partitions() {
            total += self
                .sum_shards(keys::value_count_pk(&partition), Some(value), "n")
                .await?;
        }
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// The sum of `attr` over the count shards in partition `pk` (those
    /// whose sort key starts with `prefix`): one strongly consistent Query.
    async fn sum_shards(&self, pk: String, prefix: Option<&str>, attr: &str) -> Result<i64, Error> {
        let mut condition = "#pk = :p".to_owned();
        let mut query = self
            .ddb
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":p", AttributeValue::S(pk));
        if let Some(prefix) = prefix {
            condition.push_str(" AND begins_with(#sk, :v)");
            query = query
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":v", AttributeValue::S(prefix.to_owned()));
        }
        let out = query
            .key_condition_expression(condition)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(from_sdk)?;
        self.reads.record(out.consumed_capacity());
        Ok(out
            .items()
            .iter()
            .filter_map(|i| i.get(attr)?.as_n().ok()?.parse::<i64>().ok())
            .sum())
    }

    /// How many entries a listing has since `updated_after` (a cursor does
    /// not change a count): a count of keys, so it costs what that range holds.
    pub async fn count_entries(&self, q: &PageQuery<'_>) -> Result<u64, Error> {
        let q = PageQuery {
            after: None,
            ..q.clone()
        };
        let mut total = 0u64;
        for partition in q.partitions() {
            let mut start = None;
            loop {
                let out = self
                    .range_query(&q, &partition, start.take())
                    .select(Select::Count)
                    .send()
                    .await
                    .map_err(from_sdk)?;
                self.reads.record(out.consumed_capacity());
                total += u64::try_from(out.count).unwrap_or(0);
                match out.last_evaluated_key {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        Ok(total)
    }

    /// Entries `skip .. skip + take` of a listing, and whether more follow.
    pub async fn page_keys(&self, q: &PageQuery<'_>) -> Result<(Vec<Entry>, bool), Error> {
        let mut runs: Vec<Run> = q
            .partitions()
            .into_iter()
            .map(|partition| Run {
                partition,
                buffered: VecDeque::new(),
                start: None,
                done: false,
            })
            .collect();
        let (low, high) = q.bounds();
        if let (Some(low), Some(high)) = (&low, &high) {
            // A cursor from before `updated_after` (a walk whose "since" moved
            // on): nothing lies between; DynamoDB refuses such a BETWEEN.
            if low >= high {
                return Ok((Vec::new(), false));
            }
        }
        let need = q.skip + q.take + 1;
        let mut seen = 0usize;
        let mut page = Vec::with_capacity(q.take);
        let mut listed = std::collections::HashSet::new();
        loop {
            for run in runs.iter_mut() {
                self.fill(q, run, need - seen).await?;
            }
            let next = runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.buffered.front().map(|e| (i, e)))
                .reduce(|best, e| {
                    let later = e.1.sort_key > best.1.sort_key;
                    if later == q.descending {
                        e
                    } else {
                        best
                    }
                })
                .map(|(i, _)| i);
            let Some(entry) = next.and_then(|i| runs[i].buffered.pop_front()) else {
                return Ok((page, false));
            };
            // The cursor's own entry (BETWEEN includes its bounds), and an
            // item seen twice: an index moves an entry whose key changed
            // (published, unpublished) as a delete and an insert, which a
            // read may see half done.
            let bound = Some(entry.sort_key.as_str());
            if high.as_deref() == bound || low.as_deref() == bound || !listed.insert(entry.id) {
                continue;
            }
            if seen >= q.skip {
                if page.len() == q.take {
                    return Ok((page, true));
                }
                page.push(entry);
            }
            seen += 1;
        }
    }

    /// Reads the next keys of `run` when it has none buffered.
    async fn fill(&self, q: &PageQuery<'_>, run: &mut Run, want: usize) -> Result<(), Error> {
        if !run.buffered.is_empty() || run.done {
            return Ok(());
        }
        let limit = i32::try_from(want.clamp(1, KEYS_PER_QUERY)).unwrap_or(1);
        let out = self
            .range_query(q, &run.partition, run.start.take())
            .limit(limit)
            .send()
            .await
            .map_err(from_sdk)?;
        self.reads.record(out.consumed_capacity());
        let (_, _, sk) = q.sorted.index();
        for item in out.items() {
            let sort_key = item
                .get(sk)
                .and_then(|v| v.as_s().ok())
                .ok_or_else(|| Error::internal("an index entry without its sort key"))?;
            let id = sort_key.rsplit('#').next().unwrap_or_default();
            let id = ItemId::parse(id).map_err(|e| Error::internal(e.0))?;
            run.buffered.push_back(Entry {
                sort_key: sort_key.clone(),
                id,
            });
        }
        run.start = out.last_evaluated_key;
        run.done = run.start.is_none();
        Ok(())
    }

    fn range_query(
        &self,
        q: &PageQuery<'_>,
        partition: &str,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let (index, pk, sk) = q.sorted.index();
        let (low, high) = q.bounds();
        let mut query = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(!q.descending)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let range = match (low, high) {
            (None, None) => None,
            (Some(low), None) => {
                query = query.expression_attribute_values(":lo", AttributeValue::S(low));
                Some("#sk > :lo")
            }
            (None, Some(high)) => {
                query = query.expression_attribute_values(":hi", AttributeValue::S(high));
                Some("#sk < :hi")
            }
            (Some(low), Some(high)) => {
                query = query
                    .expression_attribute_values(":lo", AttributeValue::S(low))
                    .expression_attribute_values(":hi", AttributeValue::S(high));
                Some("#sk BETWEEN :lo AND :hi")
            }
        };
        match range {
            Some(r) => query
                .expression_attribute_names("#sk", sk)
                .key_condition_expression(format!("#pk = :p AND {r}")),
            None => query.key_condition_expression("#pk = :p"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_follow_status_changes() {
        use State::*;
        let t = |live, published| Tally { live, published };
        assert_eq!(Tally::change(None, Some(Draft)), t(1, 0));
        assert_eq!(Tally::change(None, Some(Published)), t(1, 1));
        assert_eq!(Tally::change(Some(Published), None), t(-1, -1));
        assert_eq!(Tally::change(Some(Draft), Some(Published)), t(0, 1));
        assert_eq!(Tally::change(Some(Published), Some(Draft)), t(0, -1));
        assert_eq!(Tally::change(Some(Draft), Some(Draft)), t(0, 0));
        // A draft over a live item keeps it published, once.
        let with_draft = State::PublishedWithDraft;
        assert_eq!(Tally::change(Some(Published), Some(with_draft)), t(0, 0));
        assert_eq!(Tally::change(Some(with_draft), Some(Draft)), t(0, -1));
        assert_eq!(Tally::change(Some(with_draft), None), t(-1, -1));
        assert!(count_op(
            &OrgId::parse("acme").unwrap(),
            &CollectionKey::parse("posts").unwrap(),
            t(0, 0)
        )
        .is_none());
    }

    #[test]
    fn bounds_combine_a_cursor_with_updated_after() {
        let org = OrgId::parse("acme").unwrap();
        let coll = CollectionKey::parse("posts").unwrap();
        let mut q = PageQuery {
            org: &org,
            collection: &coll,
            sorted: Sorted::Updated,
            descending: false,
            preview: false,
            after: Some("2026-01-02T00:00:00.000000Z#01JF0000000000000000000000"),
            updated_after: Some("2026-01-01T00:00:00.000000Z"),
            equals: None,
            skip: 0,
            take: 10,
        };
        // Ascending: the later of the two lower bounds.
        assert_eq!(
            q.bounds(),
            (
                Some("2026-01-02T00:00:00.000000Z#01JF0000000000000000000000".into()),
                None
            )
        );
        q.descending = true;
        assert_eq!(
            q.bounds(),
            (
                Some("2026-01-01T00:00:00.000000Z#~".into()),
                Some("2026-01-02T00:00:00.000000Z#01JF0000000000000000000000".into())
            )
        );
        // updated_after bounds only the updated order.
        q.sorted = Sorted::Created;
        q.after = None;
        assert_eq!(q.bounds(), (None, None));
        assert_eq!(q.partitions(), ["acme#posts#p", "acme#posts#l"]);
        q.preview = true;
        assert_eq!(q.partitions(), ["acme#posts#p", "acme#posts#d"]);
    }
}
