//! Webhook endpoints (in their organization's partition) and each
//! endpoint's deliveries log (a partition of its own, kept by TTL): one
//! record per attempt, newest first, and one per delivery holding the
//! event, so a delivery can be re-sent by hand.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::commit::{cancellation, Attempts, Failed, Retry, WriteFailure};
use super::expr::Expr;
use super::keys;
use super::writes::now_epoch;
use super::{with_key, Store};
use crate::sdk::from_sdk;
use folio_core::error::Error;
use folio_core::event::Event;
use folio_core::ids::{OrgId, WebhookId};
use folio_core::webhooks::Webhook;

/// How long the deliveries log keeps an attempt (retries last about a day).
pub const DELIVERY_LOG_DAYS: i64 = 7;

/// One attempt, as `GET /v2/webhooks/{webhook_id}/deliveries/` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    pub delivery_id: String,
    /// The event's id (`webhook.test` pings have none).
    #[serde(default)]
    pub event_id: Option<String>,
    pub event: String,
    /// 1 for the first try; a manual retry counts on from the last.
    pub attempt: u32,
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    pub duration_ms: u64,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub manual: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeliveryRecord {
    delivery_id: String,
    /// The event, as JSON.
    event: String,
    attempts: u32,
    expires_at: i64,
}

/// The endpoint count's attribute (`keys::webhook_count`).
const COUNT: &str = "n";

/// What a registration found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    Created,
    /// The id is taken: the caller changes that endpoint instead.
    Exists,
    /// The organization has as many endpoints as it may.
    Full,
}

#[derive(Serialize)]
struct Stored<'a, T> {
    #[serde(flatten)]
    record: &'a T,
    expires_at: i64,
}

impl Store {
    /// Registers `hook` if `org` has fewer than `cap` endpoints: the
    /// endpoint and the organization's count are one transaction, so
    /// concurrent registrations never pass the cap together.
    pub async fn create_webhook(&self, hook: &Webhook, cap: u32) -> Result<Registered, Error> {
        self.seed_webhook_count(&hook.org).await?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(with_key(keys::webhook(&hook.org, &hook.id), hook)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(Error::internal)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::webhook_count(&hook.org)))
            .update_expression("ADD #n :one")
            .condition_expression("#n < :cap")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .build()
            .map_err(Error::internal)?;
        let actions = [
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        Ok(match self.transact_counted(actions).await? {
            None => Registered::Created,
            // The id is taken: a change, which the cap does not limit.
            Some([true, _]) => Registered::Exists,
            Some(_) => Registered::Full,
        })
    }

    /// Sends an endpoint's write and its count's as one transaction,
    /// retrying (with backoff) while other registrations or removals of the
    /// organization hold the count. `Some(which conditions failed)` when
    /// it was refused by them.
    async fn transact_counted(
        &self,
        actions: [TransactWriteItem; 2],
    ) -> Result<Option<[bool; 2]>, Error> {
        let mut retry =
            Retry::new(Attempts::new(&ulid::Ulid::new().to_string())).when_spent(endpoints_busy);
        loop {
            retry.next()?;
            let err = match self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(actions.to_vec()))
                .send()
                .await
            {
                Ok(_) => return Ok(None),
                Err(e) => e,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                err.as_service_error()
            {
                match cancellation(c.cancellation_reasons()) {
                    Some(Failed::Conditions(failed)) => {
                        let failed = |i: usize| failed.get(i).is_some_and(Option::is_some);
                        return Ok(Some([failed(0), failed(1)]));
                    }
                    Some(Failed::Conflicts(_)) => {
                        retry
                            .failed(WriteFailure::Conflict { idempotency: false })
                            .await?;
                        continue;
                    }
                    Some(Failed::Other(WriteFailure::Fault(e))) => return Err(e),
                    Some(Failed::Other(_)) | None => {}
                }
            }
            return Err(from_sdk(err));
        }
    }

    /// Writes `org`'s endpoint count from its endpoints when it has none
    /// yet (an organization from before the cap, or a new one). Two seeds
    /// at once count the same endpoints; the first one written stands.
    async fn seed_webhook_count(&self, org: &OrgId) -> Result<(), Error> {
        if self.get_strong(keys::webhook_count(org)).await?.is_some() {
            return Ok(());
        }
        let out = self
            .org_query(org, keys::WEBHOOK_PREFIX)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .consistent_read(true)
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut n = 0;
        for page in out {
            n += page.map_err(from_sdk)?.count;
        }
        let mut item = keys::webhook_count(org);
        item.insert(COUNT.into(), AttributeValue::N(n.to_string()));
        let result = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(from_sdk(e)),
        }
    }

    /// Changes an endpoint's settings (never its secret) from `current`, as
    /// read; None when it is gone or changed since. Enabling it clears why
    /// Folio had disabled it.
    pub async fn update_webhook(
        &self,
        hook: &Webhook,
        current: &Webhook,
    ) -> Result<Option<Webhook>, Error> {
        let mut expr = Expr::new();
        expr.set_value("url", AttributeValue::S(hook.url.clone()));
        expr.set_value(
            "events",
            AttributeValue::L(
                hook.events
                    .iter()
                    .map(|e| AttributeValue::S(e.clone()))
                    .collect(),
            ),
        );
        match &hook.collections {
            Some(c) => expr.set_value(
                "collections",
                AttributeValue::L(c.iter().map(|k| AttributeValue::S(k.to_string())).collect()),
            ),
            None => expr.remove_attr("collections"),
        };
        expr.set_value("enabled", AttributeValue::Bool(hook.enabled));
        if hook.enabled {
            expr.remove_attr("disabled_reason");
        }
        expr.set_value("updated_at", AttributeValue::S(hook.updated_at.clone()));
        expr.when_equals("updated_at", AttributeValue::S(current.updated_at.clone()));
        self.webhook_update(&hook.org, &hook.id, &expr).await
    }

    /// Turns an endpoint off (a receiver answered `410 Gone`).
    pub async fn disable_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
        reason: &str,
    ) -> Result<Option<Webhook>, Error> {
        let mut expr = Expr::new();
        expr.set_value("enabled", AttributeValue::Bool(false));
        expr.set_value("disabled_reason", AttributeValue::S(reason.to_owned()));
        expr.set_value("updated_at", AttributeValue::S(folio_core::clock::now()));
        expr.when_exists(keys::PK);
        self.webhook_update(org, id, &expr).await
    }

    /// Replaces the secret of `hook` (as read) with `sealed`; the old one
    /// keeps signing until `previous_until`. None when the endpoint is gone
    /// or changed since it was read (a concurrent rotation among others),
    /// or the secret before it still signs.
    pub async fn rotate_webhook_secret(
        &self,
        hook: &Webhook,
        sealed: String,
        previous_until: i64,
    ) -> Result<Option<Webhook>, Error> {
        let mut expr = Expr::new();
        expr.set_value("secret", AttributeValue::S(sealed));
        expr.set_value("previous_secret", AttributeValue::S(hook.secret.clone()));
        expr.set_value(
            "previous_until",
            AttributeValue::N(previous_until.to_string()),
        );
        expr.set_value("updated_at", AttributeValue::S(folio_core::clock::now()));
        expr.when_equals("secret", AttributeValue::S(hook.secret.clone()));
        // Unchanged since it was read: a change meanwhile may have moved it
        // out of the caller's reach.
        expr.when_equals("updated_at", AttributeValue::S(hook.updated_at.clone()));
        // One previous secret at a time: a rotation inside the last one's
        // overlap would drop a secret receivers may still verify with.
        // (Stored endpoints hold `previous_until: null` until their first rotation.)
        let until = expr.name("previous_until");
        let now = expr.value(AttributeValue::N(now_epoch().to_string()));
        let null = expr.value(AttributeValue::S("NULL".into()));
        expr.when(format!(
            "attribute_not_exists({until}) OR attribute_type({until}, {null}) OR {until} <= {now}"
        ));
        self.webhook_update(&hook.org, &hook.id, &expr).await
    }

    async fn webhook_update(
        &self,
        org: &OrgId,
        id: &WebhookId,
        expr: &Expr,
    ) -> Result<Option<Webhook>, Error> {
        let result = self
            .update_with(keys::webhook(org, id), expr)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(from_sdk(e)),
        }
    }

    /// One endpoint, read strongly (a delivery must see a disable at once).
    pub async fn get_webhook(&self, org: &OrgId, id: &WebhookId) -> Result<Option<Webhook>, Error> {
        self.get_strong(keys::webhook(org, id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Every endpoint of `org`, by id (the worker's fan-out).
    pub async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, Error> {
        self.org_records(org, keys::WEBHOOK_PREFIX)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Up to `limit` endpoints of `org` by id, from after `after`, and the
    /// id to go on after when more may follow (DynamoDB's last key read).
    pub async fn webhooks_page(
        &self,
        org: &OrgId,
        after: Option<&WebhookId>,
        limit: i32,
    ) -> Result<(Vec<Webhook>, Option<WebhookId>), Error> {
        let out = self
            .org_query(org, keys::WEBHOOK_PREFIX)
            .set_exclusive_start_key(after.map(|id| keys::webhook(org, id)))
            .limit(limit)
            .send()
            .await
            .map_err(from_sdk)?;
        let next = match out.last_evaluated_key.as_ref().map(|k| k.get(keys::SK)) {
            None => None,
            Some(sk) => Some(
                sk.and_then(|sk| sk.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(keys::WEBHOOK_PREFIX))
                    .and_then(|id| WebhookId::parse(id).ok())
                    .ok_or_else(|| Error::internal("a webhook page ended on another record"))?,
            ),
        };
        let hooks = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        Ok((hooks, next))
    }

    /// Removes `hook` as it was read (unchanged since: a concurrent change
    /// may have moved it out of the caller's reach) and counts it off; false
    /// when it is gone or changed. Its log expires.
    pub async fn delete_webhook(&self, hook: &Webhook) -> Result<bool, Error> {
        self.seed_webhook_count(&hook.org).await?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::webhook(&hook.org, &hook.id)))
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":seen", AttributeValue::S(hook.updated_at.clone()))
            .build()
            .map_err(Error::internal)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::webhook_count(&hook.org)))
            .update_expression("ADD #n :minus")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .build()
            .map_err(Error::internal)?;
        let actions = [
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        Ok(self.transact_counted(actions).await?.is_none())
    }

    /// Logs one attempt, and the delivery's event for a later manual retry.
    pub async fn record_attempt(
        &self,
        hook: &Webhook,
        attempt: &AttemptRecord,
        event: Option<&Event>,
    ) -> Result<(), Error> {
        let expires_at = now_epoch() + DELIVERY_LOG_DAYS * 86_400;
        let put_attempt = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_key(
                keys::webhook_attempt(&hook.org, &hook.id, &hook.log_id, ulid::Ulid::new()),
                &Stored {
                    record: attempt,
                    expires_at,
                },
            )?))
            .send();
        match event {
            Some(event) => {
                let delivery = DeliveryRecord {
                    delivery_id: attempt.delivery_id.clone(),
                    event: serde_json::to_string(event).map_err(Error::internal)?,
                    attempts: attempt.attempt,
                    expires_at,
                };
                let put_delivery = self
                    .ddb
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(with_key(
                        keys::webhook_delivery(
                            &hook.org,
                            &hook.id,
                            &hook.log_id,
                            &attempt.delivery_id,
                        ),
                        &delivery,
                    )?))
                    .send();
                let (a, d) = tokio::join!(put_attempt, put_delivery);
                a.map_err(from_sdk)?;
                d.map_err(from_sdk)?;
            }
            None => {
                put_attempt.await.map_err(from_sdk)?;
            }
        }
        Ok(())
    }

    /// The last `limit` attempts at `id`, newest first.
    pub async fn list_attempts(
        &self,
        hook: &Webhook,
        limit: i32,
    ) -> Result<Vec<AttemptRecord>, Error> {
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(keys::webhook_log_pk(&hook.org, &hook.id, &hook.log_id)),
            )
            .expression_attribute_values(":prefix", AttributeValue::S(keys::ATTEMPT_PREFIX.into()))
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| serde_dynamo::aws_sdk_dynamodb_1::from_item(i).map_err(Error::internal))
            .collect()
    }

    /// A delivery's event and how many attempts it has had, if it is still logged.
    pub async fn get_delivery(
        &self,
        hook: &Webhook,
        delivery_id: &str,
    ) -> Result<Option<(Event, u32)>, Error> {
        let Some(item) = self
            .get_strong(keys::webhook_delivery(
                &hook.org,
                &hook.id,
                &hook.log_id,
                delivery_id,
            ))
            .await?
        else {
            return Ok(None);
        };
        let r: DeliveryRecord =
            serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)?;
        let event = serde_json::from_str(&r.event).map_err(Error::internal)?;
        Ok(Some((event, r.attempts)))
    }
}

/// The 409 once a registration or removal has spent its attempts.
fn endpoints_busy() -> Error {
    Error::Conflict(
        "Other webhook endpoints of this organization are being changed at once; try again.".into(),
    )
}

fn from_item(item: std::collections::HashMap<String, AttributeValue>) -> Result<Webhook, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(Error::internal)
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}
