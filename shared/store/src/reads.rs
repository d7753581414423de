//! Reads of items: one by key (strongly consistent), many by key
//! (`BatchGetItem`), and a collection's live or deleted items from the
//! sparse `live` and `trash` indexes (never a Scan).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::commit::{parse_record, Target};
use super::keys;
use super::Store;
use crate::sdk::from_sdk;
use folio_core::content::ItemRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId, OrgId};

/// `BatchGetItem` reads at most 100 keys a request.
const BATCH_GET_KEYS: usize = 100;

impl Store {
    /// The item as stored, deleted or not (strongly consistent).
    pub async fn get_item(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        id: &ItemId,
    ) -> Result<Option<ItemRecord>, Error> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::item(org, collection, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        out.item.map(parse_record).transpose()
    }

    /// Many items by key, in as few requests as DynamoDB allows (100 keys
    /// each, unprocessed keys retried). Absent items are absent from the map.
    pub async fn get_items(
        &self,
        org: &OrgId,
        targets: &[Target],
    ) -> Result<HashMap<Target, ItemRecord>, Error> {
        let chunks: Vec<Vec<Target>> = targets
            .chunks(BATCH_GET_KEYS)
            .map(<[Target]>::to_vec)
            .collect();
        let found: Vec<Vec<ItemRecord>> = stream::iter(chunks)
            .map(|chunk| self.get_chunk(org, chunk, true))
            .buffer_unordered(4)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .map(|i| ((i.collection.clone(), i.id), i))
            .collect())
    }

    /// Items of one collection by id, as an index listed them, in that
    /// order (absent ones left out). Eventually consistent, as the index is.
    pub async fn get_listed(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        ids: &[ItemId],
    ) -> Result<Vec<ItemRecord>, Error> {
        let targets: Vec<Target> = ids.iter().map(|id| (collection.clone(), *id)).collect();
        let mut found: HashMap<ItemId, ItemRecord> = HashMap::new();
        for chunk in targets.chunks(BATCH_GET_KEYS) {
            for item in self.get_chunk(org, chunk.to_vec(), false).await? {
                found.insert(item.id, item);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn get_chunk(
        &self,
        org: &OrgId,
        chunk: Vec<Target>,
        consistent: bool,
    ) -> Result<Vec<ItemRecord>, Error> {
        let mut keys: Vec<_> = chunk.iter().map(|(c, id)| keys::item(org, c, id)).collect();
        keys.sort_by(|a, b| {
            a.get(keys::PK)
                .map(|v| v.as_s().ok())
                .cmp(&b.get(keys::PK).map(|v| v.as_s().ok()))
        });
        keys.dedup();
        self.get_raw(keys, consistent)
            .await?
            .into_iter()
            .map(parse_record)
            .collect()
    }

    /// The stored records at `keys` (at most 100, distinct), read with
    /// BatchGetItem until none is left unprocessed; missing ones are left out.
    pub(crate) async fn get_raw(
        &self,
        keys: Vec<keys::Key>,
        consistent: bool,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(keys.len());
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(Error::internal)?,
        );
        let mut rounds = 0;
        while let Some(request) = pending.take() {
            rounds += 1;
            if rounds > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << rounds.min(6))).await;
            }
            let r = self
                .ddb
                .batch_get_item()
                .request_items(&self.table, request)
                .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(from_sdk)?;
            for c in r.consumed_capacity() {
                self.reads.record(Some(c));
            }
            for item in r
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default()
            {
                out.push(item);
            }
            pending = r
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
            if rounds >= 8 && pending.is_some() {
                return Err(Error::internal("BatchGetItem left keys unprocessed"));
            }
        }
        Ok(out)
    }

    /// A Query of a collection's live items (the `live` index), in
    /// creation order.
    pub(crate) fn live_query(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.ddb
            .query()
            .table_name(&self.table)
            .index_name(keys::LIVE_INDEX)
            .key_condition_expression("#pk = :p")
            .expression_attribute_names("#pk", keys::LIVE_PK)
            .expression_attribute_values(
                ":p",
                AttributeValue::S(keys::collection_partition(org, collection)),
            )
    }

    /// Every live item of a collection in creation order, each with only
    /// the given field values (storage keys: `name`, `en.name`) and its
    /// metadata: what a list filtered or ordered in memory needs, read
    /// without the rest of each item (its page is then fetched by key).
    pub async fn list_projected(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        fields: &[String],
    ) -> Result<Vec<ItemRecord>, Error> {
        let meta = [
            "org",
            "collection",
            "id",
            "status",
            "version",
            "created_at",
            "updated_at",
            "deleted_at",
            "expires_at",
        ];
        let mut q = self
            .live_query(org, collection)
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total);
        let mut projection: Vec<String> = Vec::new();
        for (i, name) in meta.iter().enumerate() {
            q = q.expression_attribute_names(format!("#m{i}"), *name);
            projection.push(format!("#m{i}"));
        }
        // The live version under a draft too: the published view shows it.
        q = q.expression_attribute_names("#live", "live");
        for (i, name) in ["version", "updated_at"].iter().enumerate() {
            q = q.expression_attribute_names(format!("#l{i}"), *name);
            projection.push(format!("#live.#l{i}"));
        }
        if !fields.is_empty() {
            q = q.expression_attribute_names("#fields", "fields");
        }
        for (i, f) in fields.iter().enumerate() {
            q = q.expression_attribute_names(format!("#f{i}"), f);
            projection.push(format!("#fields.#f{i}"));
            projection.push(format!("#live.#fields.#f{i}"));
        }
        let mut start = None;
        let mut out = Vec::new();
        loop {
            let page = q
                .clone()
                .projection_expression(projection.join(", "))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(from_sdk)?;
            self.reads.record(page.consumed_capacity());
            for item in page.items.unwrap_or_default() {
                out.push(parse_record(item)?);
            }
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(out)
    }

    /// Deleted items of a collection, oldest deletion first, optionally
    /// only those deleted after `after` (a stored timestamp).
    pub async fn list_deleted(
        &self,
        org: &OrgId,
        collection: &CollectionKey,
        after: Option<&str>,
    ) -> Result<Vec<ItemRecord>, Error> {
        self.query_index(
            keys::TRASH_INDEX,
            (keys::TRASH_PK, keys::TRASH_SK),
            keys::collection_partition(org, collection),
            after,
        )
        .await
    }

    async fn query_index(
        &self,
        index: &str,
        (pk, sk): (&str, &str),
        partition: String,
        sk_after: Option<&str>,
    ) -> Result<Vec<ItemRecord>, Error> {
        let mut q = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":p", AttributeValue::S(partition));
        q = match sk_after {
            Some(after) => q
                .key_condition_expression("#pk = :p AND #sk > :after")
                .expression_attribute_names("#sk", sk)
                .expression_attribute_values(":after", AttributeValue::S(after.to_owned())),
            None => q.key_condition_expression("#pk = :p"),
        };
        let mut pages = q.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(parse_record(item.map_err(from_sdk)?)?);
        }
        Ok(out)
    }
}
