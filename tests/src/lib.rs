//! `TestApp`: one helper that builds real dependencies against DynamoDB
//! Local and moto (endpoints from `AWS_ENDPOINT_URL_*`, as `make test` sets
//! them), seeds an organization with a token and a collection, and calls the
//! handlers with real API Gateway events. Every `TestApp` gets its own table
//! and queue, so tests run in parallel without sharing state.

pub mod proxy;
pub mod runtime;

pub use folio_local::{clock, pump, queue};

use std::path::PathBuf;
use std::time::Duration;

use folio::auth::{Scope, Token, TokenRecord};
use folio::event::Event;
use folio::ids::{Locale, OrgId};
use folio::schema::Org;
use folio::{App, Config};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

pub use folio;

/// The collection every `TestApp` defines (the one `events/` assumes).
pub fn team_members_schema() -> Value {
    json!({"name": "Team members", "fields": [
        {"key": "name", "type": "text", "required": true, "max_length": 100},
        {"key": "bio", "type": "long_text"},
        {"key": "role", "type": "dropdown", "options": ["engineer", "designer"]},
        {"key": "age", "type": "number", "min": 0},
        {"key": "active", "type": "boolean"},
        {"key": "photo", "type": "media"},
        {"key": "started", "type": "date"}
    ]})
}

/// Every function binary (from the endpoint table) with the event from
/// `events/` that exercises it: `events/<function>.json`.
pub fn function_events() -> Vec<(&'static str, String)> {
    folio::api::routes::functions()
        .into_iter()
        .map(|f| (f, format!("{f}.json")))
        .collect()
}

/// The test queues: a message the worker failed comes back after 5 s (in
/// production 360 s), and goes to the DLQ after 5 receives, as in production.
pub fn test_queue_settings() -> folio::events::QueueSettings {
    folio::events::QueueSettings {
        visibility_timeout_secs: 5,
        max_receive_count: 5,
    }
}

/// Log lines written while the returned guard lives (this thread, JSON,
/// up to `level`), for tests that look for what must never be logged.
pub fn capture_logs(level: tracing::Level) -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One SQS message holding `body`, as the queue's trigger delivers it.
pub fn sqs_event(message_id: &str, body: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_value(json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:folio-events",
        "awsRegion": "us-east-1"
    }]}))
    .expect("an SQS event")
}

/// The guard of tests and `make dev`: 127.0.0.1 (only) allow-listed.
pub fn loopback_allowed() -> folio::outbound::Guard {
    folio::outbound::Guard::allowing(vec!["127.0.0.1/32".parse().unwrap()])
}

/// A media ingester on the test bucket, with `guard`, 1 MB and 3 s.
pub fn test_ingester(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    base_url: &str,
    guard: folio::outbound::Guard,
) -> folio::media::Ingester {
    folio::media::Ingester::new(
        s3.clone(),
        bucket.to_owned(),
        base_url.to_owned(),
        1024 * 1024,
        guard,
        folio::outbound::Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(3),
        },
    )
    .expect("a media ingester")
}

/// The webhook sender of tests: receivers on 127.0.0.1 are allow-listed
/// (as `make dev` does), and a receiver gets 2 s.
pub fn test_sender(key: &folio::webhooks::SecretKey) -> folio::webhooks::send::Sender {
    folio::webhooks::send::Sender::new(
        key.clone(),
        loopback_allowed(),
        folio::outbound::Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(2),
        },
    )
    .expect("a webhook sender")
}

/// The settings every test app uses: the production defaults, but a
/// schedule may be 1 s ahead (as under `make dev`).
pub fn test_config(table: &str) -> Config {
    Config {
        table: table.to_owned(),
        token_ttl: Duration::from_secs(60),
        schema_ttl: Duration::from_secs(30),
        retention_days: 30,
        memory_list_max: 10_000,
        webhooks_per_org: 50,
        schedule_min_lead: 1,
    }
}

/// The ids of a list response's items of `collection`, in order.
pub fn listed_ids(body: &Value, collection: &str) -> Vec<String> {
    body["data"][collection]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .iter()
        .map(|i| i["meta"]["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repo")
        .to_path_buf()
}

/// A URL on which nothing listens: connections to it are refused.
pub fn closed_port() -> String {
    // Bound, then dropped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{closed}")
}

/// A binary of the workspace, built by `cargo build --workspace --bins`.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = dir.join("debug").join(name);
    assert!(path.exists(), "{} is missing: build the workspace first (`cargo build --workspace --bins`, as `make test` does)", path.display());
    path
}

/// An event from `events/`, as text.
pub fn event_text(name: &str) -> String {
    let path = repo_root().join("events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn require_services() {
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err()
        || std::env::var("AWS_ENDPOINT_URL_SQS").is_err()
    {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS are not set: run the tests with `make test`, \
             which starts DynamoDB Local and moto and exports them"
        );
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }
}

pub struct TestApp {
    pub app: App,
    pub sdk: folio::app::SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    /// The relay as AWS would run it on the table's stream.
    pub relay: folio::events::relay::Relay,
    pub pump: tokio::sync::Mutex<pump::StreamPump>,
    /// The worker as AWS would run it on the events queue.
    pub worker: folio::events::worker::Worker,
    pub queue: queue::QueuePump,
    /// The deliveries queue and the deliverer as AWS would run it on it.
    pub deliveries_url: String,
    pub deliverer: folio::events::deliver::Deliverer,
    pub deliveries: queue::QueuePump,
    /// The schedule group (moto's EventBridge Scheduler) and the clock
    /// that fires its due schedules, as AWS would.
    pub schedule_group: String,
    pub scheduler: folio::events::worker::Scheduler,
    pub clock: tokio::sync::Mutex<clock::SchedulerClock>,
    /// The key sealing webhook secrets (the app's and the deliverer's).
    pub webhook_key: folio::webhooks::SecretKey,
    /// The same key as `FOLIO_WEBHOOK_KEY` holds it (for the binaries).
    pub webhook_key_b64: String,
    /// The media bucket (moto's S3) and the URL it is served at.
    pub s3: aws_sdk_s3::Client,
    pub media_bucket: String,
    pub media_base_url: String,
    pub org: OrgId,
    /// admin + write + read
    pub token: String,
}

impl TestApp {
    /// An organization with locales `en` (default) and `es` and the
    /// `team_members` collection.
    pub async fn spawn() -> Self {
        Self::spawn_with(&["en", "es"]).await
    }

    /// An organization with the given locales (none: not localized).
    pub async fn spawn_with(locales: &[&str]) -> Self {
        require_services();
        // Handler logs show with a failing test's output (RUST_LOG to tune).
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,aws=warn,hyper=warn".into()),
            )
            .try_init();
        let sdk = folio::aws::sdk_config().await.expect("the AWS settings");
        let table = unique("folio-test");
        let store = folio::store::Store::new(folio::store::dynamodb_client(&sdk), table.clone());
        store
            .ensure_table()
            .await
            .expect("create the test table in DynamoDB Local");
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let (queue_url, dlq_url) =
            folio::events::ensure_queues_with(&sqs, &unique("folio-test"), test_queue_settings())
                .await
                .expect("create the test queue in moto");
        let (deliveries_url, _) = folio::events::ensure_queues_with(
            &sqs,
            &unique("folio-test-deliveries"),
            folio::events::QueueSettings {
                visibility_timeout_secs: 5,
                max_receive_count: folio::events::deliver::MAX_RECEIVES,
            },
        )
        .await
        .expect("create the test deliveries queue in moto");
        let webhook_key_b64 = folio::webhooks::SecretKey::generate_b64();
        let webhook_key = folio::webhooks::SecretKey::parse(&webhook_key_b64).unwrap();
        let sender = test_sender(&webhook_key);
        let s3 = folio::media::s3_client(&sdk);
        let media_bucket = unique("folio-media");
        folio::media::ensure_bucket(&s3, &media_bucket)
            .await
            .expect("create the test media bucket in moto");
        let media_base_url = format!(
            "{}/{media_bucket}",
            std::env::var("AWS_ENDPOINT_URL_S3")
                .expect("AWS_ENDPOINT_URL_S3 (services.env)")
                .trim_end_matches('/')
        );
        let config = test_config(&table);
        let app = App::new(&sdk, config).with_webhook_sender(sender.clone());
        let relay =
            folio::events::relay::Relay::new(sqs.clone(), queue_url.clone(), dlq_url.clone());
        let pump = pump::StreamPump::new(&sdk, app.store.client(), &table)
            .await
            .expect("the test table's stream");
        let schedule_group = unique("folio-schedules");
        let scheduler = folio::events::worker::Scheduler {
            client: aws_sdk_scheduler::Client::new(&sdk),
            group: schedule_group.clone(),
            role_arn: folio::events::LOCAL_SCHEDULER_ROLE_ARN.into(),
            target_arn: folio::events::queue_arn(&sqs, &queue_url)
                .await
                .expect("the test queue's ARN"),
            dlq_arn: folio::events::queue_arn(&sqs, &dlq_url)
                .await
                .expect("the test DLQ's ARN"),
        };
        folio::events::ensure_schedule_group(&scheduler.client, &schedule_group)
            .await
            .expect("create the test schedule group in moto");
        let clock = clock::SchedulerClock::new(&sdk, &schedule_group);
        let worker = folio::events::worker::Worker::new(
            app.store.clone(),
            sqs.clone(),
            queue_url.clone(),
            Duration::from_secs(60),
        )
        .with_deliveries(deliveries_url.clone())
        // One instance, whose own schema PUT drops its cached definition:
        // no other instance to wait for before an index build.
        .with_settle(Duration::ZERO)
        .with_media(test_ingester(
            &s3,
            &media_bucket,
            &media_base_url,
            loopback_allowed(),
        ))
        .with_scheduler(scheduler.clone());
        let queue = queue::QueuePump::new(sqs.clone(), queue_url.clone())
            .await
            .expect("the test queue");
        let deliverer = folio::events::deliver::Deliverer::new(
            app.store.clone(),
            sqs.clone(),
            deliveries_url.clone(),
            sender,
            Duration::from_secs(60),
            Duration::from_secs(1),
        );
        let deliveries = queue::QueuePump::new(sqs.clone(), deliveries_url.clone())
            .await
            .expect("the test deliveries queue");
        let mut t = TestApp {
            app,
            sdk,
            sqs,
            table,
            queue_url,
            dlq_url,
            relay,
            pump: tokio::sync::Mutex::new(pump),
            worker,
            queue,
            deliveries_url,
            deliverer,
            deliveries,
            schedule_group,
            scheduler,
            clock: tokio::sync::Mutex::new(clock),
            webhook_key,
            webhook_key_b64,
            s3,
            media_bucket,
            media_base_url,
            org: OrgId::parse("placeholder").unwrap(),
            token: String::new(),
        };
        t.org = t.create_org(locales).await;
        t.token = t
            .mint(&t.org.clone(), &[Scope::Admin, Scope::Write, Scope::Read])
            .await;
        let r = t
            .put_collection("team_members", team_members_schema())
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        t
    }

    /// Another organization in the same table.
    pub async fn create_org(&self, locales: &[&str]) -> OrgId {
        let org = OrgId::parse(&unique("org")).unwrap();
        let locales: Vec<Locale> = locales.iter().map(|l| Locale::parse(l).unwrap()).collect();
        let default_locale = locales.first().cloned();
        self.app
            .store
            .put_org(&Org {
                id: org.clone(),
                locales,
                default_locale,
            })
            .await
            .unwrap();
        org
    }

    pub async fn mint(&self, org: &OrgId, scopes: &[Scope]) -> String {
        self.mint_record(TokenRecord {
            org: org.clone(),
            scopes: scopes.to_vec(),
            collections: None,
            operations: None,
            revoked: false,
            name: None,
            created_at: folio::clock::now(),
        })
        .await
    }

    pub async fn mint_record(&self, record: TokenRecord) -> String {
        let token = Token::mint();
        self.app
            .store
            .put_token(&token.hash(), &record)
            .await
            .unwrap();
        token.expose().to_owned()
    }

    /// Runs an API Gateway HTTP API (v2) event through the handler that
    /// `template.yaml` routes it to.
    pub async fn invoke(&self, event: &str) -> TestResponse {
        let req = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
        let response = dispatch(&self.app, req).await;
        to_test_response(response)
    }

    /// Runs `events/<name>` with this app's token in place of the placeholder.
    pub async fn invoke_file(&self, name: &str, replacements: &[(&str, &str)]) -> TestResponse {
        let mut text = event_text(name).replace("folio_EXAMPLE_TOKEN", &self.token);
        for (from, to) in replacements {
            text = text.replace(from, to);
        }
        self.invoke(&text).await
    }

    /// Sends a request as API Gateway would: `path` may carry a query string.
    pub async fn request(&self, method: &str, path: &str, body: Option<Value>) -> TestResponse {
        self.request_as(
            method,
            path,
            body.map(|b| b.to_string()),
            Some(&self.token),
            &[],
        )
        .await
    }

    pub async fn request_as(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        self.invoke(&api_event(method, path, body, token, headers))
            .await
    }

    /// A request as another warm instance of the functions serves it (its
    /// own caches, the same table), with this app's token.
    pub async fn on(
        &self,
        app: &App,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let event = api_event(
            method,
            path,
            body.map(|b| b.to_string()),
            Some(&self.token),
            headers,
        );
        let req = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
        to_test_response(dispatch(app, req).await)
    }

    pub async fn put_collection(&self, key: &str, schema: Value) -> TestResponse {
        self.request("PUT", &format!("/v2/collections/{key}/"), Some(schema))
            .await
    }

    /// Drops the test's table now (a test that loads many items, so the
    /// rest of the test binary does not run beside it); dropping the
    /// `TestApp` does it otherwise.
    pub async fn drop_table(&self) {
        self.app
            .store
            .client()
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .expect("drop the test table");
    }

    /// Creates `n` items through the API, 12 to a request (what one create
    /// takes with up to 3 indexed fields, each item with its first
    /// version), the i-th with `fields(i)`; returns their ids in order.
    pub async fn create_all(
        &self,
        collection: &str,
        status: &str,
        n: usize,
        fields: impl Fn(usize) -> Value,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        while ids.len() < n {
            let batch: Vec<Value> = (ids.len()..(ids.len() + 12).min(n)).map(&fields).collect();
            let r = self
                .request(
                    "POST",
                    "/v2/content/",
                    Some(json!({"key": collection, "status": status, "fields": batch})),
                )
                .await;
            assert_eq!(r.status, 202, "create failed: {:?}", r.body);
            ids.extend(
                r.body["items"]
                    .as_array()
                    .expect("created items")
                    .iter()
                    .map(|i| i["meta"]["id"].as_str().expect("an id").to_owned()),
            );
        }
        ids
    }

    /// Creates one item and returns its id.
    pub async fn create(&self, collection: &str, status: &str, fields: Value) -> String {
        let r = self
            .request(
                "POST",
                "/v2/content/",
                Some(json!({"key": collection, "status": status, "fields": [fields]})),
            )
            .await;
        assert_eq!(r.status, 202, "create failed: {:?}", r.body);
        r.body["items"][0]["meta"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Relays what the table's stream holds (as the stream trigger would),
    /// then takes every event off the queue (received and deleted, so the
    /// worker never sees them), in the order the queue hands them out.
    pub async fn drain_events(&self) -> Vec<Event> {
        self.pump
            .lock()
            .await
            .pump(&self.relay)
            .await
            .expect("relay the table's stream");
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(3600)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive from moto");
            let messages = r.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(serde_json::from_str(m.body().unwrap()).expect("events are JSON"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("delete from moto");
            }
        }
    }

    /// Relay, worker and deliverer rounds until `done` holds (a webhook
    /// receiver has what it should), failing the test past `deadline`.
    pub async fn deliver_until(&self, deadline: Duration, mut done: impl FnMut() -> bool) {
        let until = std::time::Instant::now() + deadline;
        while !done() {
            assert!(
                std::time::Instant::now() < until,
                "not done within {deadline:?}"
            );
            self.pump.lock().await.pump(&self.relay).await.unwrap();
            self.fire_due().await;
            self.queue.pump(&self.worker, Duration::ZERO).await.unwrap();
            self.deliveries
                .pump(&self.deliverer, Duration::from_millis(200))
                .await
                .unwrap();
        }
    }

    /// Runs the pipeline as AWS would until it is idle: the stream through
    /// the relay onto the queue, the queue through the worker (including
    /// what the jobs write and queue), until neither has anything left or
    /// `deadline` passes. Returns how many messages the worker received.
    pub async fn run_pipeline(&self, deadline: Duration) -> usize {
        let until = std::time::Instant::now() + deadline;
        let mut received = 0;
        let mut idle_rounds = 0;
        while std::time::Instant::now() < until {
            let relayed = self
                .pump
                .lock()
                .await
                .pump(&self.relay)
                .await
                .expect("relay the table's stream");
            let fired = self.fire_due().await;
            let round = self
                .queue
                .pump(&self.worker, Duration::from_secs(1))
                .await
                .expect("run the worker on the queue");
            received += round.received;
            let delivered = self
                .deliveries
                .pump(&self.deliverer, Duration::ZERO)
                .await
                .expect("run the deliverer on the deliveries queue");
            // Failed messages come back after the visibility timeout.
            if relayed == 0
                && fired == 0
                && round.received == 0
                && delivered.received == 0
                && self.in_flight().await == 0
                && self.queue_depth(&self.deliveries_url).await == 0
            {
                idle_rounds += 1;
                if idle_rounds >= 2 {
                    return received;
                }
            } else {
                idle_rounds = 0;
            }
        }
        panic!("the pipeline did not finish within {deadline:?}");
    }

    /// Fires the schedules due now, as EventBridge Scheduler would (their
    /// message onto the events queue); how many.
    pub async fn fire_due(&self) -> usize {
        self.clock
            .lock()
            .await
            .tick(time::OffsetDateTime::now_utc())
            .await
            .expect("fire the due schedules")
    }

    /// Messages on the events queue not yet deleted (visible, received or
    /// delayed).
    pub async fn in_flight(&self) -> usize {
        self.queue_depth(&self.queue_url).await
    }

    /// Messages on the queue at `url` not yet deleted (visible, received
    /// or delayed).
    pub async fn queue_depth(&self, url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .filter_map(|a| attrs.get(a)?.parse::<usize>().ok())
        .sum()
    }

    /// The environment a function binary gets here, as the template gives
    /// it on AWS: this app's table, queues, webhook key, media bucket, and
    /// the AWS settings of the test run (loopback allowed outbound).
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect();
        env.extend(
            [
                ("FOLIO_TABLE", self.table.clone()),
                ("FOLIO_QUEUE_URL", self.queue_url.clone()),
                ("FOLIO_DLQ_URL", self.dlq_url.clone()),
                ("FOLIO_DELIVERIES_QUEUE_URL", self.deliveries_url.clone()),
                ("FOLIO_WEBHOOK_KEY", self.webhook_key_b64.clone()),
                ("FOLIO_OUTBOUND_ALLOW", "127.0.0.1/32".into()),
                ("FOLIO_MEDIA_BUCKET", self.media_bucket.clone()),
                ("FOLIO_MEDIA_BASE_URL", self.media_base_url.clone()),
                ("FOLIO_SCHEDULE_GROUP", self.schedule_group.clone()),
                ("FOLIO_SCHEDULER_ROLE_ARN", self.scheduler.role_arn.clone()),
                (
                    "FOLIO_SCHEDULE_TARGET_ARN",
                    self.scheduler.target_arn.clone(),
                ),
                ("FOLIO_SCHEDULE_DLQ_ARN", self.scheduler.dlq_arn.clone()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env
    }

    /// The items that reference `collection`/`id` (restrict or detach), as
    /// `(collection, id, restrict fields, detach fields)`.
    pub async fn referrers(&self, collection: &str, id: &str) -> Vec<folio::store::refs::Edge> {
        self.app
            .store
            .referrers(
                &self.org,
                (
                    &folio::ids::CollectionKey::parse(collection).unwrap(),
                    &folio::ids::ItemId::parse(id).unwrap(),
                ),
                false,
                usize::MAX,
            )
            .await
            .unwrap()
    }

    /// Removes an item's record as DynamoDB's TTL does when the retention
    /// ends (DynamoDB Local runs no TTL); its stream record is a `REMOVE`.
    pub async fn purge(&self, collection: &str, id: &str) {
        self.app
            .store
            .client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(folio::store::keys::item(
                &self.org,
                &folio::ids::CollectionKey::parse(collection).unwrap(),
                &folio::ids::ItemId::parse(id).unwrap(),
            )))
            .send()
            .await
            .unwrap();
    }

    /// A collection's definition as stored (it must exist).
    pub async fn stored_collection(
        &self,
        key: &folio::ids::CollectionKey,
    ) -> folio::schema::Collection {
        self.app
            .store
            .get_collection(&self.org, key)
            .await
            .unwrap()
            .expect("the collection exists")
    }

    /// The raw stored item, deleted or not.
    pub async fn stored(&self, collection: &str, id: &str) -> Option<folio::content::ItemRecord> {
        self.app
            .store
            .get_item(
                &self.org,
                &folio::ids::CollectionKey::parse(collection).unwrap(),
                &folio::ids::ItemId::parse(id).unwrap(),
            )
            .await
            .unwrap()
    }
}

/// Every test's table goes with its `TestApp`, passed or failed. DynamoDB
/// Local keeps working on every table's stream in the background, so the
/// tables a run leaves behind slowed each later test binary (one binary took
/// 24 s on fresh services and 92 s late in `make test`). The delete runs on
/// its own thread with its own runtime and client: the test's runtime may be
/// a current-thread one that is blocked in this very `drop`.
impl Drop for TestApp {
    fn drop(&mut self) {
        let table = std::mem::take(&mut self.table);
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let sdk = folio::aws::sdk_config().await.expect("the AWS settings");
                folio::store::dynamodb_client(&sdk)
                    .delete_table()
                    .table_name(&table)
                    .send()
                    .await
                    .ok()
            })
        })
        .join();
        // Already dropped (`drop_table`) or the services gone: nothing to do.
        let _ = dropped;
    }
}

/// Serves a request as API Gateway and the functions would, routed by
/// the endpoint table (`folio::api::routes`).
pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    folio::api::routes::dispatch(app, req).await
}

pub fn to_test_response(response: Response<Body>) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Empty => Value::Null,
        Body::Text(t) => {
            serde_json::from_str(t).unwrap_or_else(|_| panic!("response is not JSON: {t}"))
        }
        Body::Binary(b) => serde_json::from_slice(b).expect("response is JSON"),
        _ => Value::Null,
    };
    TestResponse {
        status,
        headers,
        body,
    }
}

/// An API Gateway HTTP API (payload 2.0) event, shaped like the files in `events/`.
pub fn api_event(
    method: &str,
    path: &str,
    body: Option<String>,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> String {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut h = serde_json::Map::new();
    h.insert("host".into(), json!("api.example.com"));
    h.insert("content-type".into(), json!("application/json"));
    if let Some(t) = token {
        h.insert("authorization".into(), json!(format!("Token {t}")));
    }
    for (k, v) in headers {
        h.insert(k.to_lowercase(), json!(v));
    }
    let mut qs = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        qs.insert(k.into(), json!(v));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {raw_path}"),
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "f0l10xmpl1",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "folio-tests"},
            "requestId": ulid::Ulid::new().to_string(),
            "routeKey": format!("{method} {raw_path}"),
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795428000000u64
        },
        "isBase64Encoded": false
    });
    if !qs.is_empty() {
        event["queryStringParameters"] = Value::Object(qs);
    }
    if let Some(b) = body {
        event["body"] = json!(b);
    }
    event.to_string()
}
