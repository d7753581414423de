//! Creating and changing items: create (1–25 items, all or none, with an
//! optional idempotency record), replace (PUT) and patch (PATCH). Each is
//! one request per attempt; a lost race re-plans from the item that the
//! failed condition handed back, and a write that changes nothing keeps
//! the item's version.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::commit::{Action, Attempts, Committed, Op, Retry, Role, Target, WriteFailure};
use super::entries::{entry_ops, Indexing, Shown};
use super::expr::Expr;
use super::keys;
use super::pages::{count_op, Tally};
use super::record::{live_item, set_status, touch, when_live};
use super::refs::{check_target_limit, edge_ops, RefChange};
use super::size::{item_size, MAX_ITEM_BYTES};
use super::Store;
use folio_core::content::{ItemRecord, OutRef, Status};
use folio_core::error::{Error, FieldErrors};
use folio_core::ids::{CollectionKey, ItemId, OrgId};

/// Everything a write needs to say about the item it writes.
#[derive(Debug, Clone)]
pub struct ItemWrite<'a> {
    pub org: &'a OrgId,
    pub collection: &'a CollectionKey,
    pub id: ItemId,
    pub now: &'a str,
    /// `If-Match`: the version the client last saw.
    pub expected: Option<u64>,
    /// The request's id: the source of its request tokens.
    pub request_id: &'a str,
    /// The collection's indexed fields, whose entries move with the item.
    pub indexing: &'a Indexing,
}

impl ItemWrite<'_> {
    /// The attempts of this request's `what` (write, delete, restore) of
    /// this item: their tokens differ from any other request's or write's.
    pub(crate) fn attempts(&self, what: &str) -> Attempts {
        Attempts::new(&format!(
            "{}#{what}#{}#{}",
            self.request_id, self.collection, self.id
        ))
    }
}

/// What an accepted write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The item's version now.
    pub version: u64,
    /// The item's status before the write.
    pub old_status: Status,
    /// False when the write changed nothing: the version stayed.
    pub changed: bool,
}

impl Written {
    /// What a committed write did: from the item before it (a single
    /// Update's old image, else `known`, the item a transaction was planned
    /// on), or as a retry found it already done.
    pub(crate) fn from_commit(c: Committed, known: Option<ItemRecord>) -> Result<Written, Error> {
        let (version, old_status) = match c {
            Committed::Done(old) => {
                let old = old
                    .map(|o| *o)
                    .or(known)
                    .ok_or_else(|| Error::internal("a transaction runs only after a read"))?;
                (old.version + 1, old.status)
            }
            Committed::AlreadyDone(now) => (now.version, now.status),
        };
        Ok(Written {
            version,
            old_status,
            changed: true,
        })
    }
}

/// Refuses a write to an item that is not live (404) or has moved past
/// the version the client expects (412).
pub(crate) fn still_writable(now: &ItemRecord, expected: Option<u64>) -> Result<(), Error> {
    if !now.is_live(now_epoch()) {
        return Err(Error::NotFound);
    }
    match expected.filter(|e| *e != now.version) {
        Some(expected) => Err(Error::VersionMismatch {
            expected,
            current: now.version,
        }),
        None => Ok(()),
    }
}

/// The actions of a write to one item: its own update, then the edges that
/// move its references from `old` to `new` (targets in `gone` no longer
/// exist). Used by replace, patch, soft delete and restore alike.
pub(crate) fn item_ops(
    w: &ItemWrite<'_>,
    expr: Expr,
    old: &[OutRef],
    new: &[OutRef],
    gone: &BTreeSet<Target>,
) -> Vec<Op> {
    let mut ops = vec![Op {
        role: Role::Item,
        action: Action::Update {
            key: keys::item(w.org, w.collection, &w.id),
            expr,
        },
    }];
    ops.extend(edge_ops(
        w.org,
        &[RefChange {
            collection: w.collection,
            id: w.id,
            old,
            new,
        }],
        gone,
    ));
    ops
}

/// An idempotency record, written in the same transaction as a create.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub token_hash: String,
    pub key: String,
    pub request_hash: String,
    pub response: String,
    pub expires_at: i64,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New,
    /// The idempotency key was used before with this request: its response.
    Replayed(String),
}

/// A PUT or PATCH as planned against what is known of the item.
pub(crate) struct Planned {
    /// The item's own changes, with a condition that holds only if they
    /// change something.
    pub expr: Expr,
    /// The item's references after the write; None: left as they are.
    pub new_refs: Option<Vec<OutRef>>,
    /// The status the write sets (already in `expr`); None: left as it is.
    pub status: Option<Status>,
    /// Every field value after the write, when the plan knows them (the
    /// old item was given, or the write replaces them all).
    pub fields: Option<BTreeMap<String, Value>>,
}

pub(crate) fn decode_refs(item: &ItemRecord) -> Vec<OutRef> {
    let mut refs: Vec<OutRef> = item
        .out_refs
        .iter()
        .filter_map(|s| OutRef::decode(s))
        .collect();
    refs.sort();
    refs
}

pub(crate) fn set_out_refs(expr: &mut Expr, refs: &[OutRef]) {
    if refs.is_empty() {
        expr.remove_attr("out_refs");
    } else {
        expr.set_value(
            "out_refs",
            AttributeValue::L(refs.iter().map(|r| AttributeValue::S(r.encode())).collect()),
        );
    }
}

/// Field errors for the references in `refs` whose targets are missing or
/// deleted.
pub fn missing_target_errors(
    missing: &[(CollectionKey, ItemId)],
    refs: &[OutRef],
    prefix: &str,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for r in refs.iter().filter(|r| {
        missing
            .iter()
            .any(|(c, id)| *c == r.collection && *id == r.id)
    }) {
        errors.insert(
            format!("{prefix}{}", r.field),
            vec!["This value does not exist.".into()],
        );
    }
    if errors.is_empty() {
        errors.insert(
            format!("{prefix}fields"),
            vec!["This value does not exist.".into()],
        );
    }
    errors
}

pub fn too_large(prefix: &str) -> Error {
    let what = if prefix.is_empty() {
        "The item".to_owned()
    } else {
        format!("Item {}", prefix.trim_end_matches('.'))
    };
    Error::TooLarge(format!(
        "{what} is larger than the 400 KB a stored item may be."
    ))
}

pub fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `attribute_not_exists(path) OR path <> :v`: the path would change.
fn differs(expr: &mut Expr, path: &str, value: AttributeValue) -> String {
    let v = expr.value(value);
    format!("attribute_not_exists({path}) OR {path} <> {v}")
}

impl Store {
    /// Creates items (1–25) atomically with their references and, when
    /// given, the idempotency record. `prefixes[i]` goes before the field
    /// names of item i in errors.
    pub async fn create_items(
        &self,
        records: &[ItemRecord],
        refs: &[Vec<OutRef>],
        prefixes: &[String],
        idempotency: Option<&Idempotency>,
        request_id: &str,
        indexing: &Indexing,
    ) -> Result<Created, Error> {
        let Some(first) = records.first() else {
            return Ok(Created::New);
        };
        let attempts = Attempts::new(&format!(
            "{request_id}#create#{}#{}",
            first.collection, first.id
        ));
        let mut items = Vec::with_capacity(records.len());
        for (record, prefix) in records.iter().zip(prefixes) {
            let record = ItemRecord {
                write_token: Some(attempts.write_token()),
                ..record.clone()
            };
            let item = live_item(&record)?;
            if item_size(&item) > MAX_ITEM_BYTES {
                return Err(too_large(prefix));
            }
            items.push(item);
        }
        let mut retry = Retry::new(attempts)
            .unexpected("a new item id already existed")
            .when_spent(|| {
                Error::Conflict(
                    "Referenced items are being changed by other requests; try again.".into(),
                )
            });
        loop {
            let attempts = retry.next()?;
            let mut ops: Vec<Op> = items
                .iter()
                .map(|item| {
                    let mut expr = Expr::new();
                    expr.when_absent(keys::PK);
                    Op {
                        role: Role::Item,
                        action: Action::Put {
                            item: item.clone(),
                            expr,
                        },
                    }
                })
                .collect();
            let changes: Vec<RefChange<'_>> = records
                .iter()
                .zip(refs)
                .map(|(r, refs)| RefChange {
                    collection: &r.collection,
                    id: r.id,
                    old: &[],
                    new: refs,
                })
                .collect();
            ops.extend(edge_ops(&first.org, &changes, &BTreeSet::new()));
            for r in records {
                ops.extend(entry_ops(
                    &r.org,
                    &r.collection,
                    &r.id,
                    indexing,
                    None,
                    Some(r.into()),
                ));
            }
            let mut tallies: BTreeMap<&CollectionKey, Tally> = BTreeMap::new();
            for r in records {
                let t = tallies.entry(&r.collection).or_default();
                *t = t.plus(Tally::of(r.status));
            }
            for (collection, tally) in tallies {
                ops.extend(count_op(&first.org, collection, tally));
            }
            if let Some(idem) = idempotency {
                let mut item: HashMap<String, AttributeValue> =
                    keys::idempotency(&idem.token_hash, &idem.key);
                item.insert(
                    "request_hash".into(),
                    AttributeValue::S(idem.request_hash.clone()),
                );
                item.insert("response".into(), AttributeValue::S(idem.response.clone()));
                item.insert(
                    "expires_at".into(),
                    AttributeValue::N(idem.expires_at.to_string()),
                );
                // An expired record (TTL lags) counts as absent.
                let mut expr = Expr::new();
                let pk = expr.name(keys::PK);
                let expires = expr.name("expires_at");
                let now = expr.value(AttributeValue::N(now_epoch().to_string()));
                expr.when(format!("attribute_not_exists({pk}) OR {expires} < {now}"));
                ops.push(Op {
                    role: Role::Idempotency,
                    action: Action::Put { item, expr },
                });
            }
            match self.commit(ops, attempts).await {
                Ok(_) => return Ok(Created::New),
                Err(WriteFailure::Idempotent(stored)) => {
                    let ours = idempotency.map(|i| i.request_hash.as_str());
                    if ours != Some(stored.request_hash.as_str()) {
                        return Err(Error::Unprocessable(
                            "This Idempotency-Key was already used with a different request.".into(),
                        ));
                    }
                    return Ok(Created::Replayed(stored.response));
                }
                Err(WriteFailure::MissingTargets(missing)) => {
                    let mut errors = FieldErrors::new();
                    for (item_refs, prefix) in refs.iter().zip(prefixes) {
                        if item_refs.iter().any(|r| missing.contains(&(r.collection.clone(), r.id))) {
                            errors.extend(missing_target_errors(&missing, item_refs, prefix));
                        }
                    }
                    return Err(Error::Invalid(errors));
                }
                Err(WriteFailure::Conflict { idempotency: true }) => {
                    return Err(Error::Conflict(
                        "A request with this Idempotency-Key is still in progress.".into(),
                    ));
                }
                Err(WriteFailure::TooMany) => {
                    return Err(Error::bad_request(
                        "This request touches more than 100 items (created items, their index entries, referenced items and their links); split it.",
                    ))
                }
                Err(WriteFailure::TooLarge) => {
                    return Err(Error::TooLarge(
                        "These items together are larger than the 4 MB one request may write; split them.".into(),
                    ))
                }
                Err(f) => retry.failed(f).await?,
            }
        }
    }

    /// Replaces every field of a live item (PUT).
    pub async fn replace_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        values: &BTreeMap<String, Value>,
        refs: &[OutRef],
    ) -> Result<Written, Error> {
        let fields = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(values)
            .map_err(Error::internal)?;
        if item_size(&HashMap::from([("fields".to_owned(), fields.clone())]))
            > MAX_ITEM_BYTES - 4096
        {
            return Err(too_large(""));
        }
        check_target_limit(refs, "")?;
        self.versioned_write(w, |_| {
            let mut expr = Expr::new();
            let f = expr.name("fields");
            let mut changed = vec![differs(&mut expr, &f, fields.clone())];
            expr.set_value("fields", fields.clone());
            if let Some(s) = status {
                let n = expr.name("status");
                changed.push(differs(&mut expr, &n, AttributeValue::S(s.as_str().into())));
                set_status(&mut expr, w.org, w.collection, s);
            }
            expr.when(changed.join(" OR "));
            Ok(Planned {
                expr,
                new_refs: Some(refs.to_vec()),
                status,
                fields: Some(values.clone()),
            })
        })
        .await
    }

    /// Changes only the given fields (PATCH): each is its own attribute path,
    /// so concurrent patches of different fields all survive. `ref_fields`
    /// holds the new references of every patched reference field.
    pub async fn patch_item(
        &self,
        w: &ItemWrite<'_>,
        status: Option<Status>,
        changes: &BTreeMap<String, Option<Value>>,
        ref_fields: &BTreeMap<String, Vec<OutRef>>,
    ) -> Result<Written, Error> {
        if changes.is_empty() && status.is_none() {
            return self.unchanged(w).await;
        }
        let mut values = Vec::with_capacity(changes.len());
        for (k, v) in changes {
            let v = v
                .as_ref()
                .map(serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value)
                .transpose()
                .map_err(Error::internal)?;
            values.push((k.clone(), v));
        }
        let patch_size: usize = values
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .map(|(k, v)| item_size(&HashMap::from([(k.clone(), v.clone())])))
            .sum();
        if patch_size > MAX_ITEM_BYTES {
            return Err(too_large(""));
        }
        self.versioned_write(w, |old| {
            let mut expr = Expr::new();
            let mut changed = Vec::new();
            for (k, v) in &values {
                let path = format!("{}.{}", expr.name("fields"), expr.name(k));
                match v {
                    Some(v) => {
                        changed.push(differs(&mut expr, &path, v.clone()));
                        let v = expr.value(v.clone());
                        expr.set(format!("{path} = {v}"));
                    }
                    None => {
                        changed.push(format!("attribute_exists({path})"));
                        expr.remove(path);
                    }
                }
            }
            if let Some(s) = status {
                let n = expr.name("status");
                changed.push(differs(&mut expr, &n, AttributeValue::S(s.as_str().into())));
                set_status(&mut expr, w.org, w.collection, s);
            }
            expr.when(changed.join(" OR "));
            let fields = old.map(|o| {
                let mut fields = o.fields.clone();
                for (k, v) in changes {
                    match v {
                        Some(v) => fields.insert(k.clone(), v.clone()),
                        None => fields.remove(k),
                    };
                }
                fields
            });
            // Only a patch of reference fields touches references; others
            // stay one UpdateItem whatever the item points at.
            if ref_fields.is_empty() {
                return Ok(Planned {
                    expr,
                    new_refs: None,
                    status,
                    fields,
                });
            }
            let old_refs = old.map(decode_refs).unwrap_or_default();
            let mut new_refs: Vec<OutRef> = old_refs
                .into_iter()
                .filter(|r| !ref_fields.contains_key(&r.field))
                .collect();
            new_refs.extend(ref_fields.values().flatten().cloned());
            new_refs.sort();
            check_target_limit(&new_refs, "")?;
            Ok(Planned {
                expr,
                new_refs: Some(new_refs),
                status,
                fields,
            })
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

    /// A write that asks for no change: the item's version as it is.
    async fn unchanged(&self, w: &ItemWrite<'_>) -> Result<Written, Error> {
        let item = self.read_writable(w).await?;
        Ok(Written {
            version: item.version,
            old_status: item.status,
            changed: false,
        })
    }

    /// The shared path of PUT and PATCH. `plan(old)` returns the item's
    /// update and its references after the write. Without a known old item
    /// the write is tried as one UpdateItem guarded so that it cannot change
    /// references; when that guard fails, the old item it returns drives a
    /// transaction conditioned on the version it read.
    async fn versioned_write<F>(&self, w: &ItemWrite<'_>, plan: F) -> Result<Written, Error>
    where
        F: Fn(Option<&ItemRecord>) -> Result<Planned, Error>,
    {
        let mut retry =
            Retry::new(w.attempts("write")).unexpected("unexpected idempotency failure");
        let mut known: Option<ItemRecord> = None;
        let mut gone = BTreeSet::new();
        loop {
            let attempts = retry.next()?;
            let Planned {
                mut expr,
                new_refs,
                status,
                fields,
            } = plan(known.as_ref())?;
            let links = new_refs.as_ref().is_some_and(|r| !r.is_empty());
            if known.is_none() && (links || !w.indexing.is_empty()) {
                // Linking and moving index entries take a transaction,
                // which returns no old item: read it first (its version
                // then guards the transaction), as the entries need it.
                known = Some(self.read_writable(w).await?);
                continue;
            }
            touch(&mut expr, &w.id, w.now);
            expr.set_value("write_token", AttributeValue::S(attempts.write_token()));
            expr.bump_version();
            when_live(&mut expr);
            if let Some(v) = w.expected.or(known.as_ref().map(|k| k.version)) {
                expr.when_equals("version", AttributeValue::N(v.to_string()));
            }
            // A status change moves the collection's counts, which takes the
            // status before the write: unread, it is assumed unchanged (and
            // a failed condition hands back the item to see it).
            let tally = match (status, known.as_ref()) {
                (Some(new), Some(k)) => Tally::change(Some(k.status), Some(new)),
                (Some(new), None) => {
                    expr.when_equals("status", AttributeValue::S(new.as_str().into()));
                    Tally::default()
                }
                (None, _) => Tally::default(),
            };
            let old_refs = known.as_ref().map(decode_refs).unwrap_or_default();
            if let Some(refs) = &new_refs {
                if known.is_none() {
                    // Unread, the item is assumed to reference nothing; if it
                    // does, the failed condition hands back the item to see them.
                    expr.when_absent("out_refs");
                }
                set_out_refs(&mut expr, refs);
            }
            let mut ops = match &new_refs {
                Some(refs) => item_ops(w, expr, &old_refs, refs, &gone),
                None => item_ops(w, expr, &[], &[], &gone),
            };
            ops.extend(count_op(w.org, w.collection, tally));
            if let Some(k) = known.as_ref() {
                let after = Shown {
                    fields: fields.as_ref().unwrap_or(&k.fields),
                    status: status.unwrap_or(k.status),
                };
                ops.extend(entry_ops(
                    w.org,
                    w.collection,
                    &w.id,
                    w.indexing,
                    Some(k.into()),
                    Some(after),
                ));
            }
            match self.commit(ops, attempts).await {
                Ok(committed) => return Written::from_commit(committed, known),
                Err(WriteFailure::Item(None)) => return Err(Error::NotFound),
                Err(WriteFailure::Item(Some(now))) => {
                    still_writable(&now, w.expected)?;
                    let moved = known.as_ref().is_some_and(|k| k.version != now.version);
                    let unseen_refs =
                        known.is_none() && new_refs.is_some() && !now.out_refs.is_empty();
                    let status_moves = known.is_none() && status.is_some_and(|s| s != now.status);
                    if moved || unseen_refs || status_moves {
                        known = Some(*now);
                        continue;
                    }
                    // Live, at the version planned against, references as
                    // assumed: only "this changes something" failed.
                    return Ok(Written {
                        version: now.version,
                        old_status: now.status,
                        changed: false,
                    });
                }
                Err(WriteFailure::MissingTargets(missing)) => {
                    let refs = new_refs.unwrap_or_default();
                    return Err(Error::Invalid(missing_target_errors(&missing, &refs, "")));
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
                Err(f) => retry.failed(f).await?,
            }
        }
    }
}
