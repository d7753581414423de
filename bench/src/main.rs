//! `make bench`: what Folio costs the way a Lambda user pays for it.
//! - every endpoint's handler, in process, against DynamoDB Local and moto:
//!   p50/p99 latency, the handler's own time above its AWS calls, and the
//!   DynamoDB/SQS requests and DynamoDB capacity units per request;
//! - batch delete of 100 against 100 sequential single deletes;
//! - cold start of every release binary against a Runtime API stub: time
//!   to its first `next` (Lambda's Init Duration) and first response, and
//!   peak RSS;
//! - the size of every arm64 `bootstrap`;
//! - the event pipeline (stream → relay → queue → worker) while writes
//!   happen: jobs finished per second, and the delay from a committed
//!   delete to its finished reference cleanup, p50/p99;
//! - the AWS latency model (`latency.rs`): create, get, delete and batch
//!   delete with 0, 4 and 10 ms added to every DynamoDB round trip;
//! - lists at scale (`scale.rs`): collections of 1,000 and 100,000 items
//!   (`FOLIO_BENCH_LIST_SIZES`), p50/p99, capacity and peak heap per request;
//! - one item referenced by 20,000 (`hot.rs`, `FOLIO_BENCH_REFERRERS`): a
//!   create referencing it, its refused delete, and the detach cleanup of all;
//! - 1,000 schedules due in the same second (`schedules.rs`,
//!   `FOLIO_BENCH_SCHEDULES`): each fires once; lateness p50/p99.
//!
//! It reports and never fails on a slow machine: every loop has a count
//! and a clock (`Budget`). Output of a whole run: `target/folio-bench.json`
//! (with `run`: commit, start, wall time, machine, and each phase's
//! seconds, the build's from `scripts/bench.sh`), and all of `BENCHMARKS.md`
//! (`report.rs`, the targets judged in `targets.rs`) with its plots
//! (`plots.rs`, `docs/bench/`); of one section (`FOLIO_BENCH_ONLY`):
//! `target/bench-<section>.json`.

mod hot;
mod latency;
mod meter;
mod peers;
mod plots;
mod report;
mod scale;
mod schedules;
mod targets;

#[global_allocator]
static ALLOC: scale::Counting = scale::Counting;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use folio::App;
use folio_tests::runtime::{spawn_function, RuntimeStub};
use folio_tests::{api_event, dispatch, event_text, repo_root, TestApp};
use meter::{Meter, Service, Usage};
use serde_json::{json, Value};

/// A comma-separated list of numbers from the environment, or `default`.
fn env_list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Every fifth percentile of `sorted`, 0 to 100: a plot's cumulative curve.
fn cdf(sorted: &[f64]) -> Vec<f64> {
    (0..=20)
        .map(|i| round3(percentile(sorted, f64::from(i) / 20.0)))
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A loop's clock: its count is an upper bound, and it stops once its
/// time is spent, so a slow machine shortens the run instead of
/// stretching it (each section reports how many requests it made).
#[derive(Clone, Copy)]
pub struct Budget(Instant);

impl Budget {
    pub fn secs(s: f64) -> Self {
        Budget(Instant::now() + Duration::from_secs_f64(s))
    }

    pub fn spent(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Seconds each endpoint's loop may take (`FOLIO_BENCH_ENDPOINT_S`).
fn endpoint_s() -> f64 {
    env_usize("FOLIO_BENCH_ENDPOINT_S", 30) as f64
}

struct Bench {
    t: TestApp,
    app: App,
    meter: Meter,
    /// The metered client the app uses, for calls made outside a handler.
    ddb: aws_sdk_dynamodb::Client,
}

impl Bench {
    async fn new() -> Self {
        Self::new_with(&["en", "es"]).await
    }

    /// A bench whose organization has these locales (none: not localized).
    async fn new_with(locales: &[&str]) -> Self {
        Self::new_via(locales, None).await
    }

    /// The same, its metered app reaching DynamoDB through `endpoint` (a
    /// proxy) when given; the test app's own requests go direct.
    async fn new_via(locales: &[&str], endpoint: Option<&str>) -> Self {
        let t = TestApp::spawn_with(locales).await;
        let meter = Meter::default();
        let mut ddb = aws_sdk_dynamodb::config::Builder::from(&t.sdk)
            .interceptor(meter.for_service(Service::DynamoDb));
        if let Some(url) = endpoint {
            ddb = ddb.endpoint_url(url);
        }
        let ddb = ddb.build();
        // The request path makes no SQS call (events leave through the
        // table's stream), so only DynamoDB is metered here.
        let config = folio_tests::test_config(&t.table);
        let ddb = aws_sdk_dynamodb::Client::from_conf(ddb);
        let app = App::from_clients(ddb.clone(), config);
        Bench { t, app, meter, ddb }
    }

    /// Empties the events queue, as the worker would: moto's SQS slows
    /// down as a queue fills, which no real queue with a consumer does.
    async fn drain(&self) {
        let _ = self
            .t
            .sqs
            .purge_queue()
            .queue_url(&self.t.queue_url)
            .send()
            .await;
    }

    /// One request through the metered app: status, wall time, AWS usage.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Duration, Usage) {
        let event = api_event(
            method,
            path,
            body.map(|b| b.to_string()),
            Some(&self.t.token),
            &[],
        );
        let req = lambda_http::request::from_str(&event).unwrap();
        self.meter.take();
        let start = Instant::now();
        let cpu = meter::thread_cpu();
        let response = dispatch(&self.app, req).await;
        let elapsed = start.elapsed();
        let cpu = meter::thread_cpu().saturating_sub(cpu);
        let mut u = self.meter.take();
        u.handler_cpu = cpu.saturating_sub(u.aws_cpu);
        (response.status().as_u16(), elapsed, u)
    }

    /// The CPU one DynamoDB call costs the calling thread outside the
    /// meter's hooks: the SDK assembles each call's runtime components
    /// from its plugins before the first hook and drops them after the
    /// last (smithy-rs#4127), so a handler's time outside AWS calls holds
    /// this once per call. Median of `n` GetItems of an absent key: an
    /// approximation for the other operations (their plugins are alike).
    async fn sdk_call_setup_ms(&self, n: usize) -> f64 {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            // Built before the clock starts: building a request is the
            // caller's work, not the SDK's.
            let call = self
                .ddb
                .get_item()
                .table_name(&self.t.table)
                .key("pk", AttributeValue::S("bench#absent".into()))
                .key("sk", AttributeValue::S(i.to_string()));
            self.meter.take();
            let cpu = meter::thread_cpu();
            let _ = call.send().await;
            let cpu = meter::thread_cpu().saturating_sub(cpu);
            v.push(ms(cpu.saturating_sub(self.meter.take().aws_cpu)));
        }
        v.sort_by(f64::total_cmp);
        percentile(&v, 0.5)
    }

    async fn create_many(&self, n: usize) -> Vec<String> {
        self.t
            .create_all("team_members", "published", n, |i| {
                json!({"en": {"name": format!("Person {i}"), "age": i % 25, "role": "engineer"}})
            })
            .await
    }
}

#[derive(Default)]
struct Samples {
    wall: Vec<f64>,
    overhead: Vec<f64>,
    handler_cpu: Vec<f64>,
    ddb: u64,
    sqs: u64,
    capacity: f64,
    ddb_ms: Vec<f64>,
    sqs_ms: Vec<f64>,
    n: usize,
    statuses: BTreeMap<u16, usize>,
}

impl Samples {
    fn add(&mut self, (status, wall, usage): (u16, Duration, Usage)) {
        self.wall.push(ms(wall));
        self.overhead.push(ms(wall.saturating_sub(usage.aws_time)));
        self.handler_cpu.push(ms(usage.handler_cpu));
        self.ddb += usage.ddb_requests as u64;
        self.sqs += usage.sqs_requests as u64;
        self.capacity += usage.capacity_units;
        self.ddb_ms.push(ms(usage.ddb_time));
        self.sqs_ms.push(ms(usage.sqs_time));
        self.n += 1;
        *self.statuses.entry(status).or_default() += 1;
    }

    fn report(mut self) -> Value {
        self.wall.sort_by(f64::total_cmp);
        self.overhead.sort_by(f64::total_cmp);
        self.handler_cpu.sort_by(f64::total_cmp);
        self.ddb_ms.sort_by(f64::total_cmp);
        self.sqs_ms.sort_by(f64::total_cmp);
        let n = self.n.max(1) as f64;
        json!({
            "requests": self.n,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "p50_ms": percentile(&self.wall, 0.5),
            "p99_ms": percentile(&self.wall, 0.99),
            "overhead_p50_ms": percentile(&self.overhead, 0.5),
            "handler_cpu_p50_ms": percentile(&self.handler_cpu, 0.5),
            "ddb_requests": round3(self.ddb as f64 / n),
            "sqs_requests": round3(self.sqs as f64 / n),
            "capacity_units": round3(self.capacity / n),
            "ddb_time_p50_ms": percentile(&self.ddb_ms, 0.5),
            "sqs_time_p50_ms": percentile(&self.sqs_ms, 0.5),
        })
    }
}

async fn endpoints(n: usize, batch_n: usize) -> (Value, Value) {
    let b = Bench::new().await;
    let mut out = serde_json::Map::new();
    let warm = 20;

    eprintln!("bench: create ×{n}");
    let mut s = Samples::default();
    let budget = Budget::secs(endpoint_s());
    for i in 0..n + warm {
        if i >= warm && budget.spent() {
            break;
        }
        if i % 100 == 0 {
            b.drain().await;
        }
        let r = b
            .call("POST", "/v2/content/", Some(json!({"key": "team_members", "status": "published", "fields": [{"en": {"name": format!("N{i}"), "age": 30}}]})))
            .await;
        if i >= warm {
            s.add(r);
        }
    }
    out.insert("create".into(), s.report());

    let ids = b.create_many(n).await;
    let one = ids[0].clone();
    let two = ids[1].clone();
    // A collection of a typical CMS size for `list`; `list_large` lists the
    // ~3,000 items the other endpoints leave in `team_members`.
    assert_eq!(
        b.t.put_collection("catalog", folio_tests::team_members_schema())
            .await
            .status,
        201
    );
    for _ in 0..4 {
        let fields: Vec<Value> = (0..25)
            .map(|i| json!({"en": {"name": format!("Item {i}"), "role": "engineer"}}))
            .collect();
        let r =
            b.t.request(
                "POST",
                "/v2/content/",
                Some(json!({"key": "catalog", "status": "published", "fields": fields})),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    eprintln!("bench: get, list, put, patch ×{n}");
    // Each put and patch changes the item (a write that changes nothing
    // writes nothing, and would measure that instead).
    type Body = fn(usize) -> Option<Value>;
    let no_body: Body = |_| None;
    for (name, method, path, body) in [
        (
            "get",
            "GET",
            format!("/v2/content/team_members/{one}/"),
            no_body,
        ),
        (
            "list",
            "GET",
            "/v2/content/catalog/?page_size=10&fields.role=engineer".to_owned(),
            no_body,
        ),
        (
            "list_large",
            "GET",
            "/v2/content/team_members/?page_size=10&fields.role=engineer".to_owned(),
            no_body,
        ),
        (
            "put",
            "PUT",
            format!("/v2/content/team_members/{one}/"),
            |i| {
                Some(
                    json!({"status": "published", "fields": {"en": {"name": format!("Ada {i}"), "age": 37}}}),
                )
            },
        ),
        (
            "patch",
            "PATCH",
            format!("/v2/content/team_members/{one}/"),
            |i| Some(json!({"fields": {"en": {"age": i % 80 + 1}}})),
        ),
        // Draft edits of a published item (the first saves the draft
        // beside the live version), then reads of the live version.
        (
            "patch_draft",
            "PATCH",
            format!("/v2/content/team_members/{two}/"),
            |i| Some(json!({"status": "draft", "fields": {"en": {"age": i % 80 + 1}}})),
        ),
        (
            "get_with_draft",
            "GET",
            format!("/v2/content/team_members/{two}/"),
            no_body,
        ),
    ] {
        let mut s = Samples::default();
        let budget = Budget::secs(endpoint_s());
        for i in 0..n + warm {
            if i >= warm && budget.spent() {
                break;
            }
            if i % 100 == 0 {
                b.drain().await;
            }
            let r = b.call(method, &path, body(i)).await;
            if i >= warm {
                s.add(r);
            }
        }
        out.insert(name.into(), s.report());
    }

    eprintln!("bench: delete ×{n}");
    let mut s = Samples::default();
    let budget = Budget::secs(endpoint_s());
    for (i, id) in ids.iter().enumerate() {
        if budget.spent() {
            break;
        }
        if i % 100 == 0 {
            b.drain().await;
        }
        s.add(
            b.call("DELETE", &format!("/v2/content/team_members/{id}/"), None)
                .await,
        );
    }
    out.insert("delete".into(), s.report());

    eprintln!("bench: batch delete of 100 ×{batch_n}");
    let mut s = Samples::default();
    // Each batch first creates its 100 items: twice an endpoint's time.
    let budget = Budget::secs(2.0 * endpoint_s());
    for _ in 0..batch_n {
        if s.n > 0 && budget.spent() {
            break;
        }
        let ids = b.create_many(100).await;
        b.drain().await;
        s.add(
            b.call(
                "POST",
                "/v2/content/team_members/batch-delete/",
                Some(json!(ids)),
            )
            .await,
        );
    }
    out.insert("batch_delete_100".into(), s.report());

    eprintln!("bench: batch delete of 100 vs 100 sequential deletes");
    // Also split by service: how long DynamoDB work took from its first
    // call to its last, and the same for SQS.
    let (mut parallel, mut sequential) = (Vec::new(), Vec::new());
    let (mut par_ddb, mut seq_ddb, mut par_sqs, mut seq_sqs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let ids = b.create_many(100).await;
        b.drain().await;
        let (status, wall, usage) = b
            .call(
                "POST",
                "/v2/content/team_members/batch-delete/",
                Some(json!(ids)),
            )
            .await;
        assert_eq!(status, 200);
        parallel.push(ms(wall));
        par_ddb.push(ms(usage.ddb_span));
        par_sqs.push(ms(usage.sqs_span));
        let ids = b.create_many(100).await;
        b.drain().await;
        let start = Instant::now();
        let (mut ddb, mut sqs) = (Duration::ZERO, Duration::ZERO);
        for id in &ids {
            let (status, _, usage) = b
                .call("DELETE", &format!("/v2/content/team_members/{id}/"), None)
                .await;
            assert_eq!(status, 204);
            ddb += usage.ddb_time;
            sqs += usage.sqs_time;
        }
        sequential.push(ms(start.elapsed()));
        seq_ddb.push(ms(ddb));
        seq_sqs.push(ms(sqs));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        percentile(&v, 0.5)
    };
    let batch = json!({
        "parallel_ms": median(parallel),
        "sequential_ms": median(sequential),
        "parallel_dynamodb_ms": median(par_ddb),
        "sequential_dynamodb_ms": median(seq_ddb),
        "parallel_sqs_ms": median(par_sqs),
        "sequential_sqs_ms": median(seq_sqs),
        "runs": 5,
    });
    (Value::Object(out), batch)
}

/// Deletes `n` items that each have one `detach` referrer, as fast as one
/// client can, while the pipeline runs beside them as AWS would (stream
/// trigger → relay → queue trigger → worker); then reads each cleanup
/// job's finish time from its job record.
async fn pipeline(n: usize) -> Value {
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = TestApp::spawn_with(&[]).await;
    let people = json!({"name": "People", "fields": [
        {"key": "name", "type": "text", "required": true},
        {"key": "mentors", "type": "reference", "collection": "people", "many": true, "on_delete": "detach"}
    ]});
    assert_eq!(t.put_collection("people", people).await.status, 201);
    eprintln!("bench: pipeline, {n} targets with a referrer each");
    let targets = t
        .create_all(
            "people",
            "published",
            n,
            |i| json!({"name": format!("T{i}")}),
        )
        .await;
    t.create_all(
        "people",
        "published",
        n,
        |i| json!({"name": "R", "mentors": [targets[i]]}),
    )
    .await;
    t.run_pipeline(Duration::from_secs(600)).await;

    let writes_done = AtomicBool::new(false);
    let relayed_all = AtomicBool::new(false);
    let started = Instant::now();
    let writes = async {
        for id in &targets {
            let r = t
                .request("DELETE", &format!("/v2/content/people/{id}/"), None)
                .await;
            assert_eq!(r.status, 204);
        }
        writes_done.store(true, Ordering::SeqCst);
    };
    let relay = async {
        loop {
            let done = writes_done.load(Ordering::SeqCst);
            let n = t.pump.lock().await.pump(&t.relay).await.unwrap();
            if done && n == 0 {
                relayed_all.store(true, Ordering::SeqCst);
                return;
            }
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let work = async {
        loop {
            let round = t
                .queue
                .pump(&t.worker, Duration::from_secs(1))
                .await
                .unwrap();
            if round.received == 0 && relayed_all.load(Ordering::SeqCst) && t.in_flight().await == 0
            {
                return;
            }
        }
    };
    tokio::join!(writes, relay, work);
    let wall = started.elapsed();
    // The last referrer events (no jobs) may still be on their way.
    t.run_pipeline(Duration::from_secs(120)).await;

    let secs = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|d| d.unix_timestamp_nanos() as f64 / 1e9)
            .ok()
    };
    let org = t.org.clone();
    let mut delays = Vec::with_capacity(n);
    let mut runs = 0;
    for id in &targets {
        let item = t.stored("people", id).await.unwrap();
        let e = folio::event::event_id(
            &org,
            &item.collection,
            item.id,
            item.version,
            folio::event::EventType::Delete,
        );
        let job = t.app.store.job(&e, "detach_cleanup").await.unwrap();
        let Some(job) = job.filter(|j| j.done) else {
            continue;
        };
        runs += job.runs;
        if let (Some(done), Some(committed)) = (
            job.finished_at.as_deref().and_then(secs),
            secs(&item.updated_at),
        ) {
            delays.push(((done - committed) * 1e6).round() / 1e3);
        }
    }
    delays.sort_by(f64::total_cmp);
    json!({
        "deletes": n,
        "jobs_done": delays.len(),
        "job_runs": runs,
        "wall_s": (wall.as_secs_f64() * 100.0).round() / 100.0,
        "jobs_per_s": ((delays.len() as f64 / wall.as_secs_f64()) * 10.0).round() / 10.0,
        "commit_to_job_done_p50_ms": percentile(&delays, 0.5),
        "commit_to_job_done_p99_ms": percentile(&delays, 0.99),
        "commit_to_job_done_cdf_ms": cdf(&delays),
    })
}

/// A partial run's result (`FOLIO_BENCH_ONLY`): printed, and written to
/// `target/bench-<section>.json` with the run's facts; never BENCHMARKS.md,
/// which only a whole run writes.
fn section_out(section: &str, mut value: Value) {
    value["run"] = run_facts(None);
    let path = target_dir().join(format!("bench-{section}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&value).unwrap());
    eprintln!("bench: wrote {}", path.display());
}

/// The facts of a run: the commit measured, when, on what, and (a whole
/// run) how long it took.
fn run_facts(wall_s: Option<f64>) -> Value {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({
        "commit": commit,
        "started_at": STARTED.get().cloned().unwrap_or_default(),
        "wall_s": wall_s.map(round3),
        "machine": format!("{cpu}, {cores} cores"),
    })
}

/// When this run began.
static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Where the plots go (embedded in BENCHMARKS.md).
fn plots_dir() -> PathBuf {
    repo_root().join("docs").join("bench")
}

/// The committed baseline the "before" figures come from
/// (`bench/baselines/<commit>.json`, `FOLIO_BENCH_BASELINE` to choose).
fn baseline() -> Option<Value> {
    let name = std::env::var("FOLIO_BENCH_BASELINE").unwrap_or_else(|_| "4707a42".into());
    let path = repo_root()
        .join("bench")
        .join("baselines")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// BENCHMARKS.md with the plots drawn, before its first section of figures.
fn with_figures(md: String, figures: &[(String, String)]) -> String {
    if figures.is_empty() {
        return md;
    }
    let mut plots = String::from("## Plots\n\n");
    for (file, caption) in figures {
        plots += &format!("![{caption}](docs/bench/{file})\n\n");
    }
    match md.find("\n## Endpoints").or_else(|| md.find("\n## ")) {
        Some(at) => format!("{}\n{plots}{}", &md[..at], &md[at + 1..]),
        None => md + "\n" + &plots,
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

async fn cold_starts(starts: usize) -> Value {
    let t = TestApp::spawn().await;
    let seeded = t
        .create("team_members", "published", json!({"en": {"name": "Ada"}}))
        .await;
    let env = t.function_env();
    let events: BTreeMap<&str, String> = folio_tests::function_events().into_iter().collect();
    // Only these functions when FOLIO_BENCH_FUNCTIONS lists some.
    let only: Vec<String> = std::env::var("FOLIO_BENCH_FUNCTIONS")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    // The floor, Folio's delete and its peers first, in turn (`peers.rs`).
    out.extend(peers::peers(&t, starts).await);
    for (function, _) in folio_tests::function_events() {
        if out.contains_key(function) || !only.is_empty() && !only.iter().any(|o| o == function) {
            continue;
        }
        let event = event_text(&events[function])
            .replace("folio_EXAMPLE_TOKEN", &t.token)
            .replace("01JF0000000000000000000000", &seeded);
        let binary = target_dir().join("release").join(function);
        out.insert(
            function.into(),
            cold_start(&binary, &event, &env, starts).await,
        );
    }
    Value::Object(out)
}

/// `starts` cold starts of `binary` against a Runtime API stub serving
/// `event`: medians of init (to its first `next`), first response and peak RSS.
async fn cold_start(binary: &Path, event: &str, env: &[(String, String)], starts: usize) -> Value {
    if !binary.exists() {
        eprintln!(
            "bench: {} missing; run `cargo build --release --bins`",
            binary.display()
        );
        return Value::Null;
    }
    eprintln!("bench: cold start {} ×{starts}", binary.display());
    let (mut init, mut first, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    let mut statuses = BTreeMap::new();
    let budget = Budget::secs(20.0);
    for _ in 0..starts {
        if !init.is_empty() && budget.spent() {
            break;
        }
        let stub = RuntimeStub::start(vec![event.to_owned()]).await;
        let started = Instant::now();
        let mut child = spawn_function(binary, stub.addr, env);
        let result = stub.wait_for(1, Duration::from_secs(30)).await;
        let peak = peak_rss_mb(child.id());
        child.kill().ok();
        child.wait().ok();
        let Ok(responses) = result else { continue };
        let status = serde_json::from_str::<Value>(&responses[0])
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
            .unwrap_or(0);
        *statuses.entry(status.to_string()).or_insert(0) += 1;
        if let (Some(n), Some(r)) = (stub.first_next(), stub.first_response()) {
            init.push(ms(n - started));
            first.push(ms(r - started));
        }
        rss.extend(peak);
    }
    starts_summary(init, first, rss, json!(statuses))
}

/// Medians of a function's starts: init, first response, peak RSS; how
/// many starts answered, and with which statuses.
fn starts_summary(
    mut init: Vec<f64>,
    mut first: Vec<f64>,
    mut rss: Vec<f64>,
    statuses: Value,
) -> Value {
    for v in [&mut init, &mut first, &mut rss] {
        v.sort_by(f64::total_cmp);
    }
    json!({
        "init_ms": percentile(&init, 0.5),
        "first_response_ms": percentile(&first, 0.5),
        "peak_rss_mb": percentile(&rss, 0.5),
        "starts": init.len(),
        "statuses": statuses,
    })
}

fn sizes(dir: &Path) -> Value {
    let mut out = serde_json::Map::new();
    for (function, _) in folio_tests::function_events() {
        if let Ok(meta) = std::fs::metadata(dir.join(function).join("bootstrap")) {
            out.insert(
                function.into(),
                json!(((meta.len() as f64) / 1_048_576.0 * 100.0).round() / 100.0),
            );
        }
    }
    Value::Object(out)
}

/// Webhooks through the pump: `n` published items, created one after
/// another while the relay, the worker and the deliverer run, each event
/// delivered to one healthy receiver on 127.0.0.1. Delay: from the item's
/// commit (the payload's `timestamp`) to the receiver's clock on arrival.
async fn webhooks(n: usize) -> Value {
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = TestApp::spawn_with(&[]).await;
    let receiver = folio_local::receiver::Receiver::start(folio_local::receiver::always(200))
        .await
        .unwrap();
    let r = t
        .request(
            "PUT",
            "/v2/webhooks/bench/",
            Some(json!({"url": receiver.url, "events": ["collectionitem.*"]})),
        )
        .await;
    assert_eq!(r.status, 201);
    receiver.verify_with(r.body["secret"].as_str().unwrap());
    eprintln!("bench: webhooks, {n} events to one receiver");
    let writes_done = AtomicBool::new(false);
    let started = Instant::now();
    // Writes per second (0: as fast as they go, a burst that builds a backlog).
    let rate = env_usize("FOLIO_BENCH_WEBHOOK_RATE", 0);
    let writes = async {
        for i in 0..n {
            if rate > 0 {
                tokio::time::sleep(Duration::from_secs_f64(1.0 / rate as f64)).await;
            }
            let r = t
                .request(
                    "POST",
                    "/v2/content/",
                    Some(json!({"key": "team_members", "status": "published", "fields": [{"name": format!("W{i}")}]})),
                )
                .await;
            assert_eq!(r.status, 202);
        }
        writes_done.store(true, Ordering::SeqCst);
    };
    // The three triggers run side by side, as on AWS.
    let until = Instant::now() + Duration::from_secs(1800);
    let done = || receiver.count() >= n || Instant::now() > until;
    let relay = async {
        while !done() {
            if t.pump.lock().await.pump(&t.relay).await.unwrap() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let work = async {
        while !done() {
            t.queue
                .pump(&t.worker, Duration::from_millis(100))
                .await
                .unwrap();
        }
    };
    let deliver = async {
        while !done() {
            t.deliveries
                .pump(&t.deliverer, Duration::from_millis(100))
                .await
                .unwrap();
        }
        let _ = writes_done.load(Ordering::SeqCst);
    };
    tokio::join!(writes, relay, work, deliver);
    let wall = started.elapsed();
    let got = receiver.received();
    let secs = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|d| d.unix_timestamp_nanos() as f64 / 1e9)
            .ok()
    };
    let mut delays: Vec<f64> = got
        .iter()
        .filter_map(|r| {
            let committed = secs(r.json()["data"]["timestamp"].as_str()?)?;
            let arrived =
                r.at.duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs_f64();
            Some(((arrived - committed) * 1e6).round() / 1e3)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.webhook_id()).collect();
    json!({
        "events": n,
        "write_rate_per_s": rate,
        "delivered": got.len(),
        "distinct_webhook_ids": ids.len(),
        "verified": got.iter().filter(|r| r.verified == Some(true)).count(),
        "wall_s": (wall.as_secs_f64() * 100.0).round() / 100.0,
        "deliveries_per_s": ((got.len() as f64 / wall.as_secs_f64()) * 10.0).round() / 10.0,
        "commit_to_delivery_p50_ms": percentile(&delays, 0.5),
        "commit_to_delivery_p99_ms": percentile(&delays, 0.99),
        "commit_to_delivery_cdf_ms": cdf(&delays),
    })
}

/// The sections of a whole run, in the order they run. `scripts/bench.sh`
/// runs each in a process of its own on freshly started services:
/// DynamoDB Local slows down as a run's writes pile up, even in tables
/// since dropped (a thousand schedules took 30 times as long to make after
/// the other sections as alone).
const SECTIONS: [&str; 8] = [
    "latency_model",
    "endpoints",
    "cold_start",
    "pipeline",
    "webhooks",
    "schedules",
    "hot_target",
    "list_scale",
];

/// One section's figures (its keys of the whole run's JSON).
async fn section(name: &str) -> Value {
    match name {
        "latency_model" => {
            let delays: Vec<u64> = env_list("FOLIO_BENCH_DELAYS_MS", "0,4,10");
            let requests = env_usize("FOLIO_BENCH_LATENCY_REQUESTS", 100);
            json!({"latency_model": latency::latency_model(&delays, requests, 3).await})
        }
        "endpoints" => {
            let n = env_usize("FOLIO_BENCH_REQUESTS", 500);
            let (endpoints, batch) =
                endpoints(n, env_usize("FOLIO_BENCH_BATCH_REQUESTS", 50)).await;
            json!({
                "endpoints": endpoints,
                "batch_delete_100": with_ratios(batch),
                "requests_per_endpoint": n,
                "endpoint_budget_s": endpoint_s(),
            })
        }
        "cold_start" => {
            let starts = env_usize("FOLIO_BENCH_STARTS", 20);
            json!({"cold_start": cold_starts(starts).await, "starts_per_function": starts})
        }
        "pipeline" => {
            json!({"pipeline": pipeline(env_usize("FOLIO_BENCH_PIPELINE_DELETES", 200)).await})
        }
        "webhooks" => {
            json!({"webhooks": webhooks(env_usize("FOLIO_BENCH_WEBHOOK_EVENTS", 200)).await})
        }
        "schedules" => json!({
            "schedules": schedules::schedules(env_usize("FOLIO_BENCH_SCHEDULES", 1000)).await
        }),
        "hot_target" => json!({
            "hot_target": hot::hot_target(env_usize("FOLIO_BENCH_REFERRERS", 20_000)).await
        }),
        "list_scale" => {
            let sizes: Vec<usize> = env_list("FOLIO_BENCH_LIST_SIZES", "1000,100000");
            let requests = env_usize("FOLIO_BENCH_LIST_REQUESTS", 200);
            json!({"list_scale": scale::list_scale(&sizes, requests).await, "list_requests": requests})
        }
        other => panic!("no section {other}: one of {SECTIONS:?}"),
    }
}

#[tokio::main]
async fn main() {
    // scripts/bench.sh passes when it began, build included.
    let _ = STARTED
        .set(std::env::var("FOLIO_BENCH_STARTED_AT").unwrap_or_else(|_| folio::clock::now()));
    if std::env::args().nth(1).as_deref() == Some("--sections") {
        // scripts/bench.sh runs these, one process each.
        println!("{}", SECTIONS.join(" "));
        return;
    }
    if std::env::var_os("RUST_LOG").is_none() {
        // Handler logs would drown the progress lines.
        std::env::set_var("RUST_LOG", "warn");
    }
    if let Ok(saved) = std::env::var("FOLIO_BENCH_REPORT_FROM") {
        // The page again from a saved whole run (its prose or plots
        // changed): nothing is measured.
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
        write_report(report);
        return;
    }
    if std::env::var_os("FOLIO_BENCH_MERGE").is_some() {
        // scripts/bench.sh ran every section: one run's JSON and page.
        let mut report = json!({});
        for name in SECTIONS {
            let path = target_dir().join(format!("bench-{name}.json"));
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            {
                Some(Value::Object(part)) => merge_into(&mut report, Value::Object(part)),
                _ => eprintln!("bench: {} missing: that section failed", path.display()),
            }
        }
        finish(report, Phases::from_env());
        return;
    }
    if let Ok(name) = std::env::var("FOLIO_BENCH_ONLY") {
        // One section: target/bench-<section>.json, never BENCHMARKS.md.
        let figures = section(&name).await;
        section_out(&name, figures);
        return;
    }
    // Every section in this one process, on the same services.
    let mut phases = Phases::from_env();
    let mut report = json!({});
    for name in SECTIONS {
        merge_into(&mut report, section(name).await);
        phases.lap(name);
    }
    finish(report, phases);
}

/// A section's keys into the whole run's JSON (its own `run` left out).
fn merge_into(report: &mut Value, part: Value) {
    if let Value::Object(part) = part {
        for (k, v) in part {
            if k != "run" {
                report[k.as_str()] = v;
            }
        }
    }
}

/// The whole run's JSON and page: what the sections gave, the versions
/// against the baseline, the arm64 sizes, the targets and the run's facts.
fn finish(mut report: Value, phases: Phases) {
    report["versions"] = report::versions(&report["endpoints"], baseline().as_ref());
    report["binary_size_mb"] = sizes(&target_dir().join("lambda"));
    report["targets"] = targets::judge(&report);
    report["run"] = run_facts(Some(phases.total()));
    report["run"]["phases_s"] = phases.json();
    let json_path = target_dir().join("folio-bench.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    write_report(report);
    eprintln!("bench: wrote {}", json_path.display());
}

/// BENCHMARKS.md and its plots from a whole run, the targets judged.
fn write_report(mut report: Value) {
    report["targets"] = targets::judge(&report);
    let figures = plots::write_all(&report, baseline().as_ref(), &plots_dir());
    std::fs::write(
        repo_root().join("BENCHMARKS.md"),
        with_figures(report::markdown(&report), &figures),
    )
    .unwrap();
    eprintln!("bench: wrote BENCHMARKS.md and {} plots", figures.len());
}

/// The batch against the sequential deletes, whole and DynamoDB's part.
fn with_ratios(mut batch: Value) -> Value {
    let ratio = |batch: &Value, a: &str, b: &str| {
        let r = batch[a].as_f64().unwrap_or(0.0) / batch[b].as_f64().unwrap_or(f64::NAN);
        json!((r * 10.0).round() / 10.0)
    };
    batch["speedup"] = ratio(&batch, "sequential_ms", "parallel_ms");
    batch["dynamodb_speedup"] = ratio(&batch, "sequential_dynamodb_ms", "parallel_dynamodb_ms");
    batch
}

/// Where a whole run's time goes: the phases before the bench
/// (`scripts/bench.sh` passes `FOLIO_BENCH_PHASES=name=seconds,…`: tools,
/// builds, services), then each section and the report, in order.
struct Phases {
    done: Vec<(String, f64)>,
    since: Instant,
}

impl Phases {
    fn from_env() -> Self {
        let done = std::env::var("FOLIO_BENCH_PHASES")
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| {
                let (name, s) = p.split_once('=')?;
                Some((name.trim().to_owned(), s.trim().parse().ok()?))
            })
            .collect();
        Phases {
            done,
            since: Instant::now(),
        }
    }

    fn lap(&mut self, name: &str) {
        let s = (self.since.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        eprintln!("bench: {name} took {s} s");
        self.done.push((name.to_owned(), s));
        self.since = Instant::now();
    }

    fn total(&self) -> f64 {
        self.done.iter().map(|p| p.1).sum()
    }

    fn json(&self) -> Value {
        self.done.iter().map(|(n, s)| json!([n, s])).collect()
    }
}
