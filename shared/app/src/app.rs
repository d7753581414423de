//! Per-instance state: configuration, SDK clients and caches, built once
//! when a Lambda instance starts and shared by every request it serves.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use aws_config::SdkConfig;

use crate::auth::{Principal, Token, TokenRecord};
use crate::error::{Error, FieldErrors};
use crate::ids::{CollectionKey, OrgId};
use crate::schema::{Collection, Org};
use crate::settings::{self, Env};
use crate::store::entries::Indexing;
use crate::store::Store;

/// Settings, from the environment (`template.yaml` sets them).
#[derive(Debug, Clone)]
pub struct Config {
    /// `FOLIO_TABLE`
    pub table: String,
    /// `FOLIO_TOKEN_CACHE_SECONDS` (default 60): how long a warm instance
    /// trusts a token it has seen, so a revoked token works that long.
    pub token_ttl: Duration,
    /// `FOLIO_SCHEMA_CACHE_SECONDS` (default 30): how long a warm instance
    /// keeps a collection schema and organization settings.
    pub schema_ttl: Duration,
    /// `FOLIO_RETENTION_DAYS` (default 30): how long deleted items are kept.
    pub retention_days: i64,
    /// `FOLIO_MEMORY_LIST_MAX_ITEMS` (default 10,000): the largest
    /// collection a list filtered or ordered by unindexed fields reads into
    /// memory; above it such a list is a 400 naming the field to index.
    pub memory_list_max: usize,
    /// `FOLIO_WEBHOOKS_PER_ORG` (default 50): the most webhook endpoints
    /// one organization may register; each is a signed POST (and a day of
    /// retries) per matching event.
    pub webhooks_per_org: u32,
    /// `FOLIO_SCHEDULE_MIN_LEAD_SECONDS` (default 60): how far ahead a
    /// schedule's `at` must be (`make dev` sets 1).
    pub schedule_min_lead: u64,
}

impl Config {
    /// Every setting of the API functions, read once as the binary starts.
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Ok(Config {
            table: env.required("FOLIO_TABLE")?,
            token_ttl: Duration::from_secs(
                env.number("FOLIO_TOKEN_CACHE_SECONDS", settings::TOKEN_CACHE_SECONDS)?,
            ),
            schema_ttl: Duration::from_secs(
                env.number("FOLIO_SCHEMA_CACHE_SECONDS", settings::SCHEMA_CACHE_SECONDS)?,
            ),
            retention_days: env.number("FOLIO_RETENTION_DAYS", settings::RETENTION_DAYS)? as i64,
            memory_list_max: env.number(
                "FOLIO_MEMORY_LIST_MAX_ITEMS",
                settings::MEMORY_LIST_MAX_ITEMS as usize,
            )?,
            webhooks_per_org: env.number("FOLIO_WEBHOOKS_PER_ORG", settings::WEBHOOKS_PER_ORG)?,
            schedule_min_lead: env.number(
                "FOLIO_SCHEDULE_MIN_LEAD_SECONDS",
                settings::SCHEDULE_MIN_LEAD_SECONDS,
            )?,
        })
    }
}

/// A small time-bounded cache. Lambda instances serve one request at a
/// time, so a mutex around a map is all the concurrency this needs.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn remove(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    tokens: TtlCache<String, TokenRecord>,
    // Shared, not copied, per request: a schema is read on every write.
    orgs: TtlCache<OrgId, Arc<Org>>,
    /// Each schema with the time it was read (`api::now` as the read began).
    collections: TtlCache<(OrgId, CollectionKey), (Arc<Collection>, String)>,
    /// Signs and sends webhooks (only the webhook endpoints have one).
    webhook_sender: OnceLock<crate::webhooks::send::Sender>,
}

impl App {
    /// Loads AWS settings the standard way (region, credentials and the
    /// `AWS_ENDPOINT_URL_*` overrides) with a rustls HTTP client.
    /// Every setting is read here, as the function starts: a webhook
    /// function (one given `FOLIO_WEBHOOK_KEY`) builds its sender now too.
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::process();
        let config = Config::from_env(&env)?;
        let sender = match env.optional("FOLIO_WEBHOOK_KEY") {
            Some(_) => Some(crate::webhooks::send::Sender::from_env(&env)?),
            None => None,
        };
        let sdk = crate::aws::sdk_config().await?;
        let app = App::new(&sdk, config);
        Ok(match sender {
            Some(sender) => app.with_webhook_sender(sender),
            None => app,
        })
    }

    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        App::from_clients(aws_sdk_dynamodb::Client::new(sdk), config)
    }

    /// The request path needs DynamoDB only: a write's events leave through
    /// the table's stream (`events::relay`), never from the request.
    pub fn from_clients(ddb: aws_sdk_dynamodb::Client, config: Config) -> Self {
        App {
            store: Store::new(ddb, config.table.clone()),
            tokens: TtlCache::new(config.token_ttl),
            orgs: TtlCache::new(config.schema_ttl),
            collections: TtlCache::new(config.schema_ttl),
            webhook_sender: OnceLock::new(),
            config,
        }
    }

    /// Uses `sender` for webhooks instead of one from the environment.
    pub fn with_webhook_sender(self, sender: crate::webhooks::send::Sender) -> Self {
        let _ = self.webhook_sender.set(sender);
        self
    }

    /// The webhook sender, which only the webhook functions are given.
    pub fn webhook_sender(&self) -> Result<&crate::webhooks::send::Sender, Error> {
        self.webhook_sender
            .get()
            .ok_or_else(|| Error::internal("FOLIO_WEBHOOK_KEY is not set for this function"))
    }

    /// Who presents this token; a warm instance asks DynamoDB once per
    /// `token_ttl`. Unknown tokens are never cached.
    pub async fn authenticate(&self, token: &Token) -> Result<Principal, Error> {
        let hash = token.hash();
        let record = match self.tokens.get(&hash) {
            Some(r) => r,
            None => {
                let r = self
                    .store
                    .get_token(&hash)
                    .await?
                    .ok_or(Error::InvalidToken)?;
                self.tokens.put(hash.clone(), r.clone());
                r
            }
        };
        if record.revoked {
            return Err(Error::InvalidToken);
        }
        Ok(Principal {
            org: record.org.clone(),
            token_hash: hash,
            record,
        })
    }

    pub async fn org(&self, org: &OrgId) -> Result<Arc<Org>, Error> {
        if let Some(o) = self.orgs.get(org) {
            return Ok(o);
        }
        let o = Arc::new(self.store.org_settings(org).await?);
        self.orgs.put(org.clone(), Arc::clone(&o));
        Ok(o)
    }

    /// A collection schema, from the cache when `fresh` is false.
    pub async fn collection(
        &self,
        org: &OrgId,
        key: &CollectionKey,
        fresh: bool,
    ) -> Result<Arc<Collection>, Error> {
        let cache_key = (org.clone(), key.clone());
        if !fresh {
            if let Some((c, _)) = self.collections.get(&cache_key) {
                return Ok(c);
            }
        }
        self.read_collection(org, key).await
    }

    /// The schema to render an item last written at `written_at` with: the
    /// cached one if it was read after that write, else read again. So no
    /// instance renders an item with a schema older than the item (a field
    /// added, then written, would be hidden), and two instances render one
    /// version of an item alike: with the schema current when it was written
    /// or a newer one (which `collection.updated_at` then shows).
    pub async fn collection_for(
        &self,
        org: &OrgId,
        key: &CollectionKey,
        written_at: &str,
    ) -> Result<Arc<Collection>, Error> {
        match self.collections.get(&(org.clone(), key.clone())) {
            Some((c, read_at)) if read_at.as_str() >= written_at => Ok(c),
            _ => self.read_collection(org, key).await,
        }
    }

    async fn read_collection(
        &self,
        org: &OrgId,
        key: &CollectionKey,
    ) -> Result<Arc<Collection>, Error> {
        // Strongly consistent, so the schema is the one current at `read_at`
        // (a fill happens once per instance and schema cache time).
        let read_at = crate::clock::now();
        let c = Arc::new(
            self.store
                .get_collection_strong(org, key)
                .await?
                .ok_or(Error::NotFound)?,
        );
        self.collections
            .put((org.clone(), key.clone()), (Arc::clone(&c), read_at));
        Ok(c)
    }

    /// The indexed fields a write to `key`'s items keeps entries for, as
    /// the cached schema says (none for a collection no longer defined:
    /// its items can only leave).
    pub async fn indexing(&self, org: &OrgId, key: &CollectionKey) -> Result<Indexing, Error> {
        match self.collection(org, key, false).await {
            Ok(c) => Ok(Indexing::of(&*self.org(org).await?, &c)),
            Err(Error::NotFound) => Ok(Indexing::none()),
            Err(e) => Err(e),
        }
    }

    /// Checks a request against a collection's schema: against the cached
    /// schema first and, if that finds errors, once more against the
    /// stored one (the cache may be stale). Errors left are a 400.
    pub async fn validate<T>(
        &self,
        org: &OrgId,
        key: &CollectionKey,
        check: impl Fn(&Collection, &mut FieldErrors) -> T,
    ) -> Result<T, Error> {
        let mut errors = FieldErrors::new();
        let out = check(&*self.collection(org, key, false).await?, &mut errors);
        if errors.is_empty() {
            return Ok(out);
        }
        errors.clear();
        let out = check(&*self.collection(org, key, true).await?, &mut errors);
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(Error::Invalid(errors))
        }
    }

    pub fn forget_collection(&self, org: &OrgId, key: &CollectionKey) {
        self.collections.remove(&(org.clone(), key.clone()));
    }

    pub fn forget_org(&self, org: &OrgId) {
        self.orgs.remove(org);
    }
}
