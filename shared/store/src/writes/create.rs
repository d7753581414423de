//! Creating items (1–25), all or none, with their references, index
//! entries, first versions, counts and an optional idempotency record: one
//! transaction per attempt.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{missing_target_errors, now_epoch, too_large, Created, Idempotency};
use crate::commit::{Action, Attempts, Op, Retry, Role, WriteFailure};
use crate::entries::{entry_ops, Indexing};
use crate::expr::Expr;
use crate::keys;
use crate::pages::{count_op, Tally};
use crate::record::live_item;
use crate::refs::{edge_ops, RefChange};
use crate::size::{item_size, MAX_ITEM_BYTES};
use crate::versions::version_op;
use crate::Store;
use folio_core::content::{Action as Made, Author, ItemRecord, OutRef};
use folio_core::error::{Error, FieldErrors};
use folio_core::ids::CollectionKey;

/// What the items of one create share: the request, who makes it, the
/// collection's indexed fields, and the idempotency record if any.
#[derive(Debug, Clone, Copy)]
pub struct CreateWith<'a> {
    pub request_id: &'a str,
    pub by: &'a Author,
    pub indexing: &'a Indexing,
    pub idempotency: Option<&'a Idempotency>,
}

impl Store {
    /// Creates items (1–25) atomically with their references, first
    /// versions and, when given, the idempotency record. `prefixes[i]`
    /// goes before the field names of item i in errors.
    pub async fn create_items(
        &self,
        records: &[ItemRecord],
        refs: &[Vec<OutRef>],
        prefixes: &[String],
        with: CreateWith<'_>,
    ) -> Result<Created, Error> {
        let CreateWith {
            request_id,
            by,
            indexing,
            idempotency,
        } = with;
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
                    Some(r),
                ));
            }
            for r in records {
                ops.push(version_op(r, Made::Create, by)?);
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
}
