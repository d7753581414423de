//! Per-instance state: configuration, SDK clients and caches, built once
//! when a Lambda instance starts and shared by every request it serves.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

use crate::auth::{Principal, Token, TokenRecord};
use crate::error::{Error, FieldErrors};
use crate::ids::{CollectionKey, OrgId};
use crate::schema::{Collection, Org};
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
}

impl Config {
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::internal(format!("{name} is not set")))
        };
        let num = |name: &str, default: u64| -> Result<u64, Error> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map_err(|_| Error::internal(format!("{name} must be a whole number"))),
                Err(_) => Ok(default),
            }
        };
        Ok(Config {
            table: var("FOLIO_TABLE")?,
            token_ttl: Duration::from_secs(num("FOLIO_TOKEN_CACHE_SECONDS", 60)?),
            schema_ttl: Duration::from_secs(num("FOLIO_SCHEMA_CACHE_SECONDS", 30)?),
            retention_days: num("FOLIO_RETENTION_DAYS", 30)? as i64,
            memory_list_max: num("FOLIO_MEMORY_LIST_MAX_ITEMS", 10_000)? as usize,
            webhooks_per_org: u32::try_from(num("FOLIO_WEBHOOKS_PER_ORG", 50)?)
                .map_err(|_| Error::internal("FOLIO_WEBHOOKS_PER_ORG is too large"))?,
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
    /// Signs and sends webhooks (only the webhook endpoints use it): built
    /// on first use from the environment, unless set first.
    webhook_sender: OnceLock<crate::webhooks::Sender>,
}

impl App {
    /// Loads AWS settings the standard way (region, credentials and the
    /// `AWS_ENDPOINT_URL_*` overrides) with a rustls HTTP client.
    pub async fn from_env() -> Result<Self, Error> {
        let sdk = sdk_config().await;
        Ok(App::new(&sdk, Config::from_env()?))
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
    pub fn with_webhook_sender(self, sender: crate::webhooks::Sender) -> Self {
        let _ = self.webhook_sender.set(sender);
        self
    }

    /// The webhook sender: `FOLIO_WEBHOOK_KEY`, `FOLIO_OUTBOUND_ALLOW` and
    /// the timeouts of `webhooks::timeouts_from_env`.
    pub fn webhook_sender(&self) -> Result<&crate::webhooks::Sender, Error> {
        if let Some(s) = self.webhook_sender.get() {
            return Ok(s);
        }
        let sender = crate::webhooks::Sender::from_env()?;
        Ok(self.webhook_sender.get_or_init(|| sender))
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
        let read_at = crate::api::now();
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

/// Bounds on every AWS call: a dead endpoint fails fast, a hanging one
/// cannot hold a request past the function's 10 s timeout (the SDK retries
/// an attempt that timed out, within the operation's bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Default for Timeouts {
    /// What AWS needs: DynamoDB and SQS answer in milliseconds there.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(9),
        }
    }
}

impl Timeouts {
    /// The defaults, or `FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS` and
    /// `FOLIO_AWS_OPERATION_TIMEOUT_SECONDS` when set: the local stand-ins
    /// answer far slower than AWS under load (DynamoDB Local queues
    /// concurrent transactions on one item instead of refusing them).
    pub fn from_env() -> Self {
        let secs = |name: &str, default: Duration| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(default, Duration::from_secs)
        };
        let d = Timeouts::default();
        Timeouts {
            connect: d.connect,
            attempt: secs("FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS", d.attempt),
            operation: secs("FOLIO_AWS_OPERATION_TIMEOUT_SECONDS", d.operation),
        }
    }
}

/// The SDK configuration every binary uses: rustls with ring (no OpenSSL,
/// no C toolchain for cross builds), Mozilla's root certificates compiled
/// in, endpoints from the environment, and `Timeouts::from_env`.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_with(Timeouts::from_env()).await
}

/// The roots the SDK's TLS trusts: Mozilla's, compiled in
/// (`webpki-root-certs`, which AWS's Amazon Root CAs are part of). The
/// SDK's default reads the system store (`/etc/ssl/certs`: a bundle and
/// ~150 files) while a function starts, which was most of the time a
/// function took to start beyond a bare runtime (`make bench`, cold start).
fn compiled_roots() -> aws_smithy_http_client::tls::TrustStore {
    use base64::Engine;
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    aws_smithy_http_client::tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem.into_bytes())
}

/// The SDK's HTTPS client, with the compiled-in roots.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let mut http = aws_smithy_http_client::Builder::new().tls_provider(
        aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ),
    );
    match aws_smithy_http_client::tls::TlsContext::builder()
        .with_trust_store(compiled_roots())
        .build()
    {
        Ok(tls) => http = http.tls_context(tls),
        // Not expected; the SDK's default roots then serve.
        Err(e) => tracing::warn!(error = %e, "compiled-in TLS roots not usable"),
    }
    http.build_https()
}

/// The HTTPS client built on first use. The SDK's own client builds a
/// connector (and its root store) each time a client is configured, to
/// fail early, which at a function's start is work its first request
/// does not need: the credentials chain's STS client and the DynamoDB
/// client each paid for one.
#[derive(Debug, Default)]
struct LazyHttps(std::sync::OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient>);

impl aws_smithy_runtime_api::client::http::HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0
            .get_or_init(https_client)
            .http_connector(settings, components)
    }
}

pub async fn sdk_config_with(t: Timeouts) -> SdkConfig {
    let http = aws_smithy_runtime_api::client::http::SharedHttpClient::new(LazyHttps::default());
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(t.connect)
        .operation_attempt_timeout(t.attempt)
        .operation_timeout(t.operation)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}
