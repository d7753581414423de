//! Folio's store: DynamoDB access on the domain of `folio-core`; nothing
//! outside this crate sees an `AttributeValue`, and nothing here knows of
//! HTTP, queues or the application above it.
//! - `keys`: every key and index attribute, written once;
//! - `record`: an item's stored form and the "live" condition;
//! - `commit`: one request per write attempt, failures, bounds, retries;
//! - `writes`: create, replace, patch; `trash`: soft delete, restore;
//! - `refs`: reference edges and the delete guard's counter;
//! - `reads`: gets, batch gets and index queries;
//! - `pages`: listings paged by DynamoDB, and the counts that page them;
//! - `cleanup`: detaching references to deleted items; `jobs`: job records;
//! - `versions`: every write's version of an item, its reads and upkeep;
//! - `sdk`: AWS SDK errors as the domain's (`from_sdk`).

pub mod admin;
pub mod cleanup;
pub mod commit;
pub mod entries;
pub mod expr;
pub mod jobs;
pub mod keys;
mod load;
pub mod media;
pub mod pages;
mod reads;
mod record;
pub mod refs;
pub mod schedules;
pub mod sdk;
pub mod size;
mod trash;
pub mod versions;
pub mod webhooks;
pub mod writes;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use crate::sdk::from_sdk;
use folio_core::auth::TokenRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, FieldKey, Locale, OrgId};
use folio_core::schema::{parse_collection, Collection, CollectionSpec, FieldSpec, Org};

pub use commit::Target;
pub use trash::REFERRERS_SHOWN;
pub use writes::{now_epoch, CreateWith, Created, Idempotency, ItemWrite, Written};

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) ddb: Client,
    pub(crate) table: String,
    /// Capacity read by listings (`store::pages`).
    pub(crate) reads: std::sync::Arc<pages::ReadMeter>,
    /// Sends made again after learning stored entries (`Store::commit`).
    pub(crate) relearned: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Serialize, Deserialize)]
struct OrgRecord {
    org: OrgId,
    #[serde(default)]
    locales: Vec<Locale>,
    #[serde(default)]
    default_locale: Option<Locale>,
}

/// What defining or replacing a collection sets (`Store::put_collection`).
const SET_COLLECTION: &str = "SET #key = :key, #name = :name, #desc = :desc, #fields = :fields, #updated = :now, #created = if_not_exists(#created, :now), #building = :building, #locale = :locale";

#[derive(Serialize, Deserialize)]
struct CollectionRecord {
    key: CollectionKey,
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// The field specs as JSON, exactly as accepted.
    fields: String,
    created_at: String,
    updated_at: String,
    /// Indexed fields whose entries are being built (`Collection::building`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    building: Vec<String>,
    #[serde(default)]
    index_locale: Option<String>,
    /// `Collection::counted`; absent on collections defined before value
    /// counts existed.
    #[serde(default)]
    counted: bool,
}

fn with_key<T: Serialize>(
    key: keys::Key,
    record: &T,
) -> Result<HashMap<String, AttributeValue>, Error> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(record).map_err(Error::internal)?;
    item.extend(key);
    Ok(item)
}

/// Whether a conditional write applied: `false` when its condition failed
/// (`failed` recognises that error of the operation), any other error as is.
fn applied<O, E, R>(
    out: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
    failed: impl Fn(&E) -> bool,
) -> Result<bool, Error>
where
    E: std::error::Error
        + aws_smithy_types::error::metadata::ProvideErrorMetadata
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match out {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(&failed) => Ok(false),
        Err(e) => Err(from_sdk(e)),
    }
}

pub fn dynamodb_client(sdk: &aws_config::SdkConfig) -> Client {
    Client::new(sdk)
}

impl Store {
    pub fn new(ddb: Client, table: impl Into<String>) -> Self {
        Store {
            ddb,
            table: table.into(),
            reads: Default::default(),
            relearned: Default::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.ddb
    }

    /// An UpdateItem of the record at `key` with `expr`'s changes and condition.
    pub(crate) fn update_with(
        &self,
        key: keys::Key,
        expr: &expr::Expr,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expr.update_expression())
            .set_condition_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
    }

    /// A Scan of the table keeping what `expr`'s condition matches.
    pub(crate) fn scan_with(
        &self,
        expr: &expr::Expr,
    ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder {
        self.ddb
            .scan()
            .table_name(&self.table)
            .set_filter_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, key: keys::Key) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        self.get_with(key, false).await
    }

    /// A strongly consistent read: for records a worker must see as just
    /// written (webhook endpoints, deliveries, job records).
    pub(crate) async fn get_strong(
        &self,
        key: keys::Key,
    ) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        self.get_with(key, true).await
    }

    async fn get_with(
        &self,
        key: keys::Key,
        consistent: bool,
    ) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(out.item)
    }

    /// Every record of `org`'s partition whose sort key starts with
    /// `prefix` (collections, webhook endpoints), all pages.
    /// A Query of the records in `org`'s partition whose sort key starts
    /// with `prefix` (its collections, its webhook endpoints).
    pub(crate) fn org_query(
        &self,
        org: &OrgId,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::org_pk(org)))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
    }

    pub(crate) async fn org_records(
        &self,
        org: &OrgId,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let mut pages = self.org_query(org, prefix).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(from_sdk)?);
        }
        Ok(out)
    }

    /// An organization's settings; a token's organization always exists,
    /// and one without settings is simply not localized.
    pub async fn org_settings(&self, org: &OrgId) -> Result<Org, Error> {
        Ok(self.get_org(org).await?.unwrap_or_else(|| Org {
            id: org.clone(),
            locales: Vec::new(),
            default_locale: None,
        }))
    }

    pub async fn get_org(&self, org: &OrgId) -> Result<Option<Org>, Error> {
        let Some(item) = self.get(keys::org(org)).await? else {
            return Ok(None);
        };
        let r: OrgRecord =
            serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)?;
        Ok(Some(Org {
            id: r.org,
            locales: r.locales,
            default_locale: r.default_locale,
        }))
    }

    /// Creates or updates an organization's settings.
    pub async fn put_org(&self, org: &Org) -> Result<(), Error> {
        let record = OrgRecord {
            org: org.id.clone(),
            locales: org.locales.clone(),
            default_locale: org.default_locale.clone(),
        };
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_key(keys::org(&org.id), &record)?))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    pub async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>, Error> {
        let Some(item) = self.get(keys::token(hash)).await? else {
            return Ok(None);
        };
        Ok(Some(
            serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)?,
        ))
    }

    pub async fn put_token(&self, hash: &str, record: &TokenRecord) -> Result<(), Error> {
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_key(keys::token(hash), record)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    pub async fn revoke_token(&self, hash: &str) -> Result<bool, Error> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::token(hash)))
            .update_expression("SET #revoked = :t")
            .expression_attribute_names("#revoked", "revoked")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        applied(out, |e| e.is_conditional_check_failed_exception())
    }

    pub async fn get_collection(
        &self,
        org: &OrgId,
        key: &CollectionKey,
    ) -> Result<Option<Collection>, Error> {
        self.read_collection(org, key, false).await
    }

    /// The collection as last written (a strongly consistent read): for an
    /// index build, which must not take a definition it was just told of
    /// for one that replaced it.
    pub async fn get_collection_strong(
        &self,
        org: &OrgId,
        key: &CollectionKey,
    ) -> Result<Option<Collection>, Error> {
        self.read_collection(org, key, true).await
    }

    async fn read_collection(
        &self,
        org: &OrgId,
        key: &CollectionKey,
        consistent: bool,
    ) -> Result<Option<Collection>, Error> {
        let item = self
            .get_with(keys::collection(org, key), consistent)
            .await?;
        item.map(collection_from).transpose()
    }

    pub async fn list_collections(&self, org: &OrgId) -> Result<Vec<Collection>, Error> {
        self.org_records(org, keys::COLLECTION_PREFIX)
            .await?
            .into_iter()
            .map(collection_from)
            .collect()
    }

    /// Defines or replaces a collection; `true` when it is new. The first
    /// `created_at` is kept across replacements. `replaces` is the stored
    /// definition the caller read (None: a create), which it authorized and
    /// computed `building` from; if another request changed it meanwhile,
    /// the write is refused with a 409.
    pub async fn put_collection(
        &self,
        org: &OrgId,
        c: &Collection,
        replaces: Option<&Collection>,
    ) -> Result<(bool, String), Error> {
        let fields = serde_json::to_string(&c.specs()).map_err(Error::internal)?;
        let request = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::collection(org, &c.key)))
            .update_expression(SET_COLLECTION)
            .expression_attribute_names("#building", "building")
            .expression_attribute_names("#locale", "index_locale")
            .expression_attribute_values(":building", entries::field_list(&c.building))
            .expression_attribute_values(":locale", entries::locale_value(c.index_locale.as_ref()))
            .expression_attribute_names("#key", "key")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#desc", "description")
            .expression_attribute_names("#fields", "fields")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_names("#created", "created_at")
            .expression_attribute_values(":key", AttributeValue::S(c.key.to_string()))
            .expression_attribute_values(":name", AttributeValue::S(c.name.clone()))
            .expression_attribute_values(
                ":desc",
                c.description
                    .clone()
                    .map(AttributeValue::S)
                    .unwrap_or(AttributeValue::Null(true)),
            )
            .expression_attribute_values(":fields", AttributeValue::S(fields))
            .expression_attribute_values(":now", AttributeValue::S(c.updated_at.clone()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        // A new collection's entries are counted from its first item; a
        // replaced one keeps what it had (`mark_built` sets it).
        let request = match replaces {
            Some(old) => request
                .condition_expression("#updated = :seen")
                .expression_attribute_values(":seen", AttributeValue::S(old.updated_at.clone())),
            None => request
                .update_expression(format!("{}, #counted = :counted", SET_COLLECTION))
                .expression_attribute_names("#counted", "counted")
                .expression_attribute_values(":counted", AttributeValue::Bool(true))
                .condition_expression("attribute_not_exists(pk)"),
        };
        let out = request.send().await;
        let out = match out {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                return Err(Error::Conflict(
                    "This collection was created, changed or removed by another request; try again.".into(),
                ))
            }
            Err(e) => return Err(from_sdk(e)),
        };
        let attrs = out.attributes.unwrap_or_default();
        let created_at = attrs
            .get("created_at")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        Ok((created_at == c.updated_at, created_at))
    }

    /// Removes a collection's definition; `false` when there was none. The
    /// caller has checked that no live item and no other schema needs it.
    pub async fn delete_collection(&self, org: &OrgId, key: &CollectionKey) -> Result<bool, Error> {
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::collection(org, key)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        applied(out, |e| e.is_conditional_check_failed_exception())
    }

    /// Creates the table with its indexes and TTL when it does not exist;
    /// `true` when it was created. `template.yaml` declares the same table.
    pub async fn ensure_table(&self) -> Result<bool, Error> {
        match self
            .ddb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(false),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => return Err(from_sdk(e)),
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(Error::internal)
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
                .map_err(Error::internal)
        };
        let gsi = |name: &str, pk: &str, sk: &str, projection: ProjectionType| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(Error::internal)
        };
        let (all, keys_only) = (ProjectionType::All, ProjectionType::KeysOnly);
        self.ddb
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(vec![
                attr(keys::PK)?,
                attr(keys::SK)?,
                attr(keys::LIVE_PK)?,
                attr(keys::LIVE_SK)?,
                attr(keys::TRASH_PK)?,
                attr(keys::TRASH_SK)?,
                attr(keys::VIS_PK)?,
                attr(keys::CR_SK)?,
                attr(keys::UP_SK)?,
                attr(keys::IX_PK)?,
                attr(keys::IX_SK)?,
            ]))
            .key_schema(key(keys::PK, KeyType::Hash)?)
            .key_schema(key(keys::SK, KeyType::Range)?)
            .global_secondary_indexes(gsi(
                keys::LIVE_INDEX,
                keys::LIVE_PK,
                keys::LIVE_SK,
                all.clone(),
            )?)
            .global_secondary_indexes(gsi(keys::TRASH_INDEX, keys::TRASH_PK, keys::TRASH_SK, all)?)
            .global_secondary_indexes(gsi(
                keys::CREATED_INDEX,
                keys::VIS_PK,
                keys::CR_SK,
                keys_only.clone(),
            )?)
            .global_secondary_indexes(gsi(
                keys::UPDATED_INDEX,
                keys::VIS_PK,
                keys::UP_SK,
                keys_only.clone(),
            )?)
            .global_secondary_indexes(gsi(keys::FIELD_INDEX, keys::IX_PK, keys::IX_SK, keys_only)?)
            // The outbox: every change reaches the relay through the stream.
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(Error::internal)?,
            )
            .send()
            .await
            .map_err(from_sdk)?;
        self.ddb
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(Error::internal)?,
            )
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(true)
    }
}

fn collection_from(item: HashMap<String, AttributeValue>) -> Result<Collection, Error> {
    let r: CollectionRecord =
        serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)?;
    let fields: Vec<FieldSpec> = serde_json::from_str(&r.fields).map_err(Error::internal)?;
    let spec = CollectionSpec {
        name: r.name,
        description: r.description,
        fields,
    };
    // A stored schema was valid when written; failing here is a real fault.
    let mut c = parse_collection(r.key, spec, r.created_at, r.updated_at)
        .map_err(|e| Error::internal(format!("stored schema no longer parses: {e:?}")))?;
    c.building = r
        .building
        .iter()
        .filter_map(|f| FieldKey::parse(f).ok())
        .collect();
    c.index_locale = r.index_locale.and_then(|l| Locale::parse(&l).ok());
    c.counted = r.counted;
    Ok(c)
}
