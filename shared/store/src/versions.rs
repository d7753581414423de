//! An item's versions (`content::Version`): one record per write in the
//! item's partition (`keys::version`, sk `VER#<20-digit version>`), put in
//! the write's own transaction (`version_op`). Version records carry no
//! listing or index attribute and no `sk = ITEM`, so no index lists them
//! and the stream's relay, which takes `sk = ITEM` only, never takes one
//! for an item. Reads: a page newest first, one version; upkeep off the
//! request path: trimming past the newest `keep` (never the published
//! version or the draft) and removing them all once the item is purged.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::commit::{Action, Op, Role};
use super::expr::Expr;
use super::keys;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::{Action as Made, Author, ItemRecord, Version};
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId, OrgId};

/// `BatchWriteItem` takes at most 25 requests.
const BATCH_WRITE: usize = 25;

/// The put of `item`'s version (as a write leaves it), made by `by`.
pub(crate) fn version_op(item: &ItemRecord, made: Made, by: &Author) -> Result<Op, Error> {
    let version = Version::of(item, made, by);
    let mut record: HashMap<String, AttributeValue> =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(&version).map_err(Error::internal)?;
    record.extend(keys::version(
        &item.org,
        &item.collection,
        &item.id,
        item.version,
    ));
    Ok(Op {
        role: Role::Version,
        action: Action::Put {
            item: record,
            expr: Expr::new(),
        },
    })
}

/// A page of an item's versions, newest first, without their content.
#[derive(Debug, Clone)]
pub struct VersionPage {
    pub versions: Vec<Version>,
    /// Whether older versions follow the last one.
    pub more: bool,
}

fn parse(item: HashMap<String, AttributeValue>) -> Result<Version, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)
}

impl Store {
    /// Up to `take` versions of an item older than `before` (None: from
    /// the newest), newest first, each without its fields (a list shows
    /// who did what, not content). One Query.
    pub async fn versions(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        id: &ItemId,
        before: Option<u64>,
        take: usize,
    ) -> Result<VersionPage, Error> {
        let pk = keys::item_pk(org, collection, id);
        // BETWEEN includes its bounds: below `before`, not from it (a
        // `before` in the page would take the place of the one past it,
        // which tells whether more follow).
        let through = before.map_or(u64::MAX, |b| b.saturating_sub(1));
        let high = keys::version(org, collection, id, through);
        let limit = i32::try_from(take + 1).unwrap_or(i32::MAX);
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":lo", AttributeValue::S(keys::VERSION_PREFIX.to_owned()))
            .expression_attribute_values(":hi", high[keys::SK].clone())
            .projection_expression("version, #st, #ac, created_at, #by")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#ac", "action")
            .expression_attribute_names("#by", "by")
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(from_sdk)?;
        let mut versions = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        let more = versions.len() > take;
        versions.truncate(take);
        Ok(VersionPage { versions, more })
    }

    /// One version of an item, with its content.
    pub async fn version(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        id: &ItemId,
        version: u64,
    ) -> Result<Option<Version>, Error> {
        self.get_strong(keys::version(org, collection, id, version))
            .await?
            .map(parse)
            .transpose()
    }

    /// Deletes the versions of an item older than its newest `keep`, except
    /// the ones in `protect` (its published version and its draft).
    /// Returns how many went.
    pub async fn trim_versions(
        &self,
        item: &ItemRecord,
        keep: u64,
        protect: &[u64],
    ) -> Result<usize, Error> {
        let Some(last) = item.version.checked_sub(keep) else {
            return Ok(0);
        };
        let old = self
            .version_keys((&item.org, &item.collection, &item.id), Some(last))
            .await?;
        let gone: Vec<_> = old
            .into_iter()
            .filter(|(v, _)| !protect.contains(v))
            .map(|(_, key)| key)
            .collect();
        self.delete_keys(gone).await
    }

    /// Deletes every version of an item (its purge). Returns how many went.
    pub async fn purge_versions(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        id: &ItemId,
    ) -> Result<usize, Error> {
        let all = self.version_keys((org, collection, id), None).await?;
        self.delete_keys(all.into_iter().map(|(_, key)| key).collect())
            .await
    }

    /// The keys of an item's versions up to `through` (None: all), oldest
    /// first, with their numbers.
    async fn version_keys(
        &self,
        (org, coll, id): (&OrgId, &CollectionKey, &ItemId),
        through: Option<u64>,
    ) -> Result<Vec<(u64, keys::Key)>, Error> {
        let high = keys::version(org, coll, id, through.unwrap_or(u64::MAX));
        let mut pages = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", AttributeValue::S(keys::item_pk(org, coll, id)))
            .expression_attribute_values(":lo", AttributeValue::S(keys::VERSION_PREFIX.to_owned()))
            .expression_attribute_values(":hi", high[keys::SK].clone())
            .projection_expression("#pk, #sk, version")
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            for record in page.map_err(from_sdk)?.items.unwrap_or_default() {
                let v = record
                    .get("version")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or_default();
                let key = [keys::PK, keys::SK]
                    .into_iter()
                    .filter_map(|k| Some((k.to_owned(), record.get(k)?.clone())))
                    .collect();
                out.push((v, key));
            }
        }
        Ok(out)
    }

    /// Deletes records by key, 25 to a `BatchWriteItem`, retrying what
    /// DynamoDB leaves unprocessed.
    async fn delete_keys(&self, keys: Vec<keys::Key>) -> Result<usize, Error> {
        let n = keys.len();
        for chunk in keys.chunks(BATCH_WRITE) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map_err(Error::internal)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, Error>>()?;
            for _ in 0..8 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(from_sdk)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            if !requests.is_empty() {
                return Err(Error::internal("versions left unprocessed by DynamoDB"));
            }
        }
        Ok(n)
    }
}
