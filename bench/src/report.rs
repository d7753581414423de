//! BENCHMARKS.md from one run's JSON: each section's table with the prose
//! that explains it, then the targets, met or missed. Every figure comes
//! from the run (or, for "before", from the committed baseline); the prose
//! says what the figures mean, never what they were.

use serde_json::{json, Map, Value};

pub fn fmt(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map(|f| format!("{f}")).unwrap_or_default(),
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// An object's entries whose keys are numbers (sizes, delays), in
/// numeric order; JSON objects keep their keys as text, "10" before "4".
pub fn by_number(v: &Value) -> Vec<(&String, &Value)> {
    let mut rows: Vec<(u64, (&String, &Value))> = v
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, x)| Some((k.parse().ok()?, (k, x))))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

fn statuses(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| format!("{k}×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The writes before versions (the committed baseline) and in this run.
pub const VERSIONED: [&str; 9] = [
    "create",
    "put",
    "patch",
    "patch_draft",
    "delete",
    "get",
    "get_with_draft",
    "list",
    "batch_delete_100",
];

/// The `versions` section: each endpoint's p50, DynamoDB requests and
/// capacity units before versions (the baseline) and now.
pub fn versions(endpoints: &Value, baseline: Option<&Value>) -> Value {
    let then = baseline.map_or(&Value::Null, |b| &b["endpoints"]);
    let pick = |e: &Value| {
        e.is_object().then(|| {
            json!({"p50_ms": e["p50_ms"], "p99_ms": e["p99_ms"],
                   "ddb_requests": e["ddb_requests"], "capacity_units": e["capacity_units"]})
        })
    };
    let rows: Map<String, Value> = VERSIONED
        .iter()
        .map(|&name| {
            let row = json!({"before": pick(&then[name]), "now": pick(&endpoints[name])});
            (name.to_owned(), row)
        })
        .collect();
    json!({
        "before_commit": baseline.map_or(Value::Null, |b| b["run"]["commit"].clone()),
        "endpoints": rows,
    })
}

/// The phases of the run: (name, seconds), in the order they ran.
fn phases(run: &Value) -> Vec<(String, f64)> {
    run["phases_s"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[0].as_str()?.to_owned(), num(&p[1])?)))
        .collect()
}

const PHASE_NOTES: [(&str, &str); 12] = [
    (
        "tools",
        "`scripts/tools.sh` and the Node.js peer's SDK: installs what is missing, pinned",
    ),
    (
        "build_x86_64",
        "`cargo build --release --workspace --bins`: the binaries started here and the bench",
    ),
    (
        "build_arm64",
        "`cargo lambda build --release --arm64`: the bootstraps Lambda runs, measured for size",
    ),
    (
        "services",
        "DynamoDB Local and moto started afresh before each section",
    ),
    (
        "latency_model",
        "create, get, delete and batch at 0, 4 and 10 ms added; the 10 ms round trips take most",
    ),
    (
        "endpoints",
        "each endpoint's loop, then 100 fresh items for every batch and for the sequential walks",
    ),
    (
        "cold_start",
        "every function, the floor and the two peers, up to 20 s each",
    ),
    (
        "pipeline",
        "the items and their referrers, then the deletes while the pipeline drains",
    ),
    (
        "webhooks",
        "the creates while the relay, worker and deliverer drain",
    ),
    (
        "schedules",
        "the schedules made through the API, then the fires",
    ),
    (
        "hot_target",
        "loading the referrers, then the worker's cleanup of all",
    ),
    ("list_scale", "mostly loading the 100,000 items"),
];

pub fn markdown(r: &Value) -> String {
    let run = &r["run"];
    let mut md = String::from(
        "# Folio benchmarks\n\nWritten whole by `make bench` (`bench/src/main.rs`, the prose in `bench/src/report.rs`) from one run: \
         `target/folio-bench.json` holds every figure below, and the plots are drawn from it. A benchmark, not a test: it reports and \
         never fails. To work on one section, `FOLIO_BENCH_ONLY=<section> make bench` writes `target/bench-<section>.json` and leaves \
         this file alone.\n\n",
    );
    let phases = phases(run);
    let total: f64 = phases.iter().map(|p| p.1).sum();
    md += &format!(
        "Machine: {}. Run: commit {}, started {}, {:.0} s in all ({:.1} min), build included.\n\n",
        fmt(&run["machine"]),
        fmt(&run["commit"]),
        fmt(&run["started_at"]),
        num(&run["wall_s"]).unwrap_or(total),
        num(&run["wall_s"]).unwrap_or(total) / 60.0,
    );
    md += "## Where the time goes\n\nThe phases of this run, in order. Each section runs in a process of its own on freshly started local services \
           (`scripts/bench.sh`): DynamoDB Local slows down as a run's writes pile up.\n\n\
           | phase | s | share | what |\n|---|---|---|---|\n";
    for (name, s) in &phases {
        let note = PHASE_NOTES.iter().find(|n| n.0 == name).map_or("", |n| n.1);
        md += &format!(
            "| {name} | {s:.1} | {:.0} % | {note} |\n",
            100.0 * s / total.max(1e-9)
        );
    }
    md += &endpoints(r);
    md += &versions_md(r);
    md += &batch(r);
    md += &cold(r);
    md += &lists(r);
    md += &latency(r);
    md += &pipeline(r);
    md += &webhooks(r);
    md += &hot(r);
    md += &schedules(r);
    md += &crate::targets::markdown(r);
    md += &knobs(r);
    md
}

fn endpoints(r: &Value) -> String {
    let mut md = format!(
        "\n## Endpoints\n\nEach endpoint's handler runs in the bench's process (release build) against DynamoDB Local and moto, \
         as Lambda runs it less the Runtime API: {} requests each after 20 warm-up requests, or fewer where the section's clock \
         ({} s an endpoint) ran out first (`requests`). Overhead is the handler's time with no AWS call in flight; handler CPU is \
         its thread's CPU outside AWS calls (the two agree: the overhead is work, not waiting). Requests and capacity units are per \
         request, counted by an interceptor on the SDK client. `list` filters a 100-item collection on an unindexed field (the \
         in-memory path), `list_large` the few thousand items the other endpoints leave; `patch_draft` saves a draft over a \
         published item and `get_with_draft` reads that item's live version.\n\n\
         | endpoint | requests | p50 ms | p99 ms | overhead p50 ms | handler CPU p50 ms | DynamoDB req | SQS req | capacity units |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        fmt(&r["requests_per_endpoint"]),
        fmt(&r["endpoint_budget_s"]),
    );
    for (name, e) in r["endpoints"].as_object().into_iter().flatten() {
        md += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            fmt(&e["requests"]),
            fmt(&e["p50_ms"]),
            fmt(&e["p99_ms"]),
            fmt(&e["overhead_p50_ms"]),
            fmt(&e["handler_cpu_p50_ms"]),
            fmt(&e["ddb_requests"]),
            fmt(&e["sqs_requests"]),
            fmt(&e["capacity_units"])
        );
    }
    md += "\nA write is one DynamoDB request or one transaction (a create with its count shard, index entries and version), \
           or a strongly consistent read and then one transaction (put, patch, delete: the version read guards the write), and \
           never an SQS request: events leave through the table's stream. On a warm instance the token and the schema come from \
           the instance's cache (`FOLIO_TOKEN_CACHE_SECONDS`, `FOLIO_SCHEMA_CACHE_SECONDS`).\n";
    md
}

fn versions_md(r: &Value) -> String {
    let v = &r["versions"];
    let before = fmt(&v["before_commit"]);
    let mut md = format!(
        "\n## Versions and published with draft: each write before and now\n\n*Before* is the committed baseline \
         `bench/baselines/{before}.json` (the endpoints section of commit {before}, the last before every write kept a version, \
         run on this machine); *now* is this run. put and patch read the item first and commit one transaction of the item, its \
         version record and its count and index moves, conditioned on the version read: the price of keeping every version and \
         of both views' index entries. create and delete were transactions already; the version is one more put in them. A \
         published read of an item with a draft is one read of the item record, which holds both versions.\n\n\
         | endpoint | p50 ms before | p50 ms now | DynamoDB req before → now | capacity units before → now |\n|---|---|---|---|---|\n"
    );
    for (name, row) in v["endpoints"].as_object().into_iter().flatten() {
        let (b, n) = (&row["before"], &row["now"]);
        md += &format!(
            "| {name} | {} | {} | {} → {} | {} → {} |\n",
            fmt(&b["p50_ms"]),
            fmt(&n["p50_ms"]),
            fmt(&b["ddb_requests"]),
            fmt(&n["ddb_requests"]),
            fmt(&b["capacity_units"]),
            fmt(&n["capacity_units"]),
        );
    }
    let same = |k: &str| {
        let row = &v["endpoints"][k];
        num(&row["before"]["capacity_units"]).is_some()
            && row["before"]["capacity_units"] == row["now"]["capacity_units"]
    };
    if same("create") || same("delete") {
        md += "\nDynamoDB Local reports a create's or delete's capacity unchanged with the version's put added to its \
               transaction; on AWS that put should cost about 2 more units (a transaction's writes count twice).\n";
    }
    md
}

fn batch(r: &Value) -> String {
    let b = &r["batch_delete_100"];
    format!(
        "\n## Batch delete of 100\n\nMedians of {} runs, each on 100 fresh items. A batch reads its items in one `BatchGetItem` and \
         deletes them in transactions of 25, in parallel; the sequential walk is a read and a transaction per item. Here \
         both wait on DynamoDB Local's CPU, which shares the 2 cores; the latency model below adds the round trip AWS has.\n\n\
         | | one batch request | 100 sequential deletes | ratio |\n|---|---|---|---|\n\
         | whole request(s), ms | {} | {} | {}× |\n| DynamoDB part, ms | {} | {} | {}× |\n| SQS part, ms | {} | {} | |\n",
        fmt(&b["runs"]),
        fmt(&b["parallel_ms"]),
        fmt(&b["sequential_ms"]),
        fmt(&b["speedup"]),
        fmt(&b["parallel_dynamodb_ms"]),
        fmt(&b["sequential_dynamodb_ms"]),
        fmt(&b["dynamodb_speedup"]),
        fmt(&b["parallel_sqs_ms"]),
        fmt(&b["sequential_sqs_ms"]),
    )
}

fn cold(r: &Value) -> String {
    let c = &r["cold_start"];
    let floor = num(&c["echo_floor"]["init_ms"]);
    let mut md = format!(
        "\n## Cold start\n\nEach x86_64 release binary (the same build as the bench; Lambda runs the arm64 build below) started \
         up to {} times against a Runtime API stub in the bench, answering one event from `events/`. Init: from the spawn to its \
         first `next` (what Lambda reports as Init Duration, less the sandbox); first response: to its answer, which includes \
         the first connection to DynamoDB Local and the token and schema reads; peak RSS: `VmHWM`. `echo_floor` is a bare \
         `lambda_runtime` echo. `python_boto3` and `node_sdk_v3` do what `delete-item` does, one conditional write, in Python \
         with boto3 and in Node.js with the AWS SDK v3 (`bench/peers/`); those four start in turn within one loop so that the \
         machine's noise meets them alike, each on an item of its own. Statuses are as they came: events that name a webhook or \
         collection the bench does not define answer 404, a repeated delete 404.\n\n\
         | function | init ms | above the floor ms | first response ms | peak RSS MB | starts | statuses |\n|---|---|---|---|---|---|---|\n",
        fmt(&r["starts_per_function"]),
    );
    let peers = ["echo_floor", "delete-item", "python_boto3", "node_sdk_v3"];
    let mut rows: Vec<(&String, &Value)> = c.as_object().into_iter().flatten().collect();
    rows.sort_by_key(|(k, _)| peers.iter().position(|p| p == k).unwrap_or(peers.len()));
    for (name, v) in rows {
        let above = num(&v["init_ms"])
            .zip(floor)
            .map_or("–".into(), |(i, f)| format!("{}", round2(i - f)));
        md += &format!(
            "| {name} | {} | {above} | {} | {} | {} | {} |\n",
            fmt(&v["init_ms"]),
            fmt(&v["first_response_ms"]),
            fmt(&v["peak_rss_mb"]),
            fmt(&v["starts"]),
            statuses(&v["statuses"]),
        );
    }
    md += "\nAt init a function builds its clients and configuration with no network call; the AWS SDK's TLS roots are \
           compiled in (no read of `/etc/ssl/certs`) and its HTTPS client is built on first use. The release profile is \
           `opt-level = \"s\"`, one codegen unit, `panic = \"abort\"`, stripped (`Cargo.toml`).\n\n\
           ### Size of the arm64 `bootstrap` (`cargo lambda build --release --arm64`)\n\n| function | MB |\n|---|---|\n";
    for (name, s) in r["binary_size_mb"].as_object().into_iter().flatten() {
        md += &format!("| {name} | {} |\n", fmt(s));
    }
    md
}

fn lists(r: &Value) -> String {
    let l = &r["list_scale"];
    let mut md = format!(
        "\n## Lists at scale, published and preview\n\nCollections loaded through the store (`Store::load_items`, batch writes, \
         each item with its index entries; `age` and `city` are indexed): one item in ten a draft, one in ten a draft over its \
         live version (another `city`), so the two views differ. Pages 1–5 of 10 items, cycled, {} requests a case or its \
         clock; units are DynamoDB read units per request. `unindexed_filter` (`fields.role`, the in-memory path) runs at \
         1,000 items only: above `FOLIO_MEMORY_LIST_MAX_ITEMS` it is refused.\n\n",
        fmt(&r["list_requests"]),
    );
    let mut loads = Vec::new();
    md += "| items | case | published p50 ms | p99 ms | units | preview p50 ms | p99 ms | units |\n|---|---|---|---|---|---|---|---|\n";
    for (size, cases) in by_number(l) {
        loads.push(format!("{size} in {} s", fmt(&cases["load_s"])));
        for (case, c) in cases.as_object().into_iter().flatten() {
            if !c.is_object() || case.starts_with("preview_") {
                continue;
            }
            let p = &cases[format!("preview_{case}").as_str()];
            md += &format!(
                "| {size} | {case} | {} | {} | {} | {} | {} | {} |\n",
                fmt(&c["p50_ms"]),
                fmt(&c["p99_ms"]),
                fmt(&c["capacity_units"]),
                fmt(&p["p50_ms"]),
                fmt(&p["p99_ms"]),
                fmt(&p["capacity_units"]),
            );
        }
    }
    let large = &l["large_items_350kb"]["default_order"];
    md += &format!(
        "\nLoaded: {}. A page reads its keys from the index partition of its order or filter, then its items: O(page), \
         whatever the collection's size. A published page merges two listing partitions (items without a draft, and the \
         live entries of those with one). The memory bound: 60 items of 350 KB, pages of 100 asked for: {} items a page \
         (the page stops at 4 MB), p50 {} ms, {} units, {} MB peak heap (the bench's counting allocator).\n",
        loads.join(", "),
        fmt(&large["items_per_page"]),
        fmt(&large["p50_ms"]),
        fmt(&large["capacity_units"]),
        fmt(&large["peak_mb"]),
    );
    md
}

fn latency(r: &Value) -> String {
    let mut md = String::from(
        "\n## The AWS latency model\n\nA TCP proxy in the bench (`bench/src/latency.rs`) delays every byte between the handler \
         and DynamoDB Local by half the round trip each way: 0, 4 and 10 ms added, as a Lambda in another zone or region than \
         its table would pay. Like every section, it runs on freshly started services.\n\n\
         | added round trip ms | endpoint | requests | p50 ms | p99 ms | handler overhead p50 ms | of it, Folio's own CPU p50 ms |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut batches = String::new();
    let mut setups = Vec::new();
    for (delay, eps) in by_number(&r["latency_model"]) {
        for (name, e) in eps.as_object().into_iter().flatten() {
            match name.as_str() {
                "sdk_call_setup_cpu_ms" => setups.push(format!("{} ms at {delay} ms", fmt(e))),
                "batch_delete_100" => {
                    batches += &format!(
                        "| {delay} | {} | {} | {}× | {} |\n",
                        fmt(&e["parallel_ms"]),
                        fmt(&e["sequential_ms"]),
                        fmt(&e["speedup"]),
                        fmt(&e["runs"]),
                    )
                }
                _ => {
                    md += &format!(
                        "| {delay} | {name} | {} | {} | {} | {} | {} |\n",
                        fmt(&e["requests"]),
                        fmt(&e["p50_ms"]),
                        fmt(&e["p99_ms"]),
                        fmt(&e["overhead_p50_ms"]),
                        fmt(&e["handler_net_cpu_p50_ms"])
                    )
                }
            }
        }
    }
    md += &format!(
        "\nHandler overhead is the time outside AWS calls. It includes the AWS SDK's own work around each call: the SDK \
         assembles a call's runtime components from its plugins before its first hook and drops them after its last \
         (smithy-rs#4127), {} of CPU per DynamoDB call here (measured alone, same client). Folio's own CPU is the handler \
         thread's CPU outside AWS calls less that per call.\n\n\
         Batch delete of 100 (one request) against 100 sequential deletes, medians of the runs: with a round trip to pay, \
         a few transactions in parallel beat a read and a write per item by more.\n\n\
         | added round trip ms | batch ms | sequential ms | ratio | runs |\n|---|---|---|---|---|\n{batches}",
        setups.join(", ")
    );
    md
}

fn pipeline(r: &Value) -> String {
    let p = &r["pipeline"];
    format!(
        "\n## Event pipeline (stream → relay → queue → worker, in process)\n\n{} deletes, each of an item with one `detach` \
         referrer, sent one after another while the three triggers run side by side as on AWS; each delete's reference \
         cleanup is a job. Delay: from the delete's commit to its job record's `finished_at`. The deletes arrive faster than \
         one worker drains them on this machine, so the delay is mostly the backlog of the burst; on AWS the worker scales \
         out with the queue. Job runs above jobs done would be jobs run twice.\n\n\
         | jobs done | job runs | wall s | jobs/s | commit → job done p50 ms | p99 ms |\n|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {} |\n",
        fmt(&p["deletes"]),
        fmt(&p["jobs_done"]),
        fmt(&p["job_runs"]),
        fmt(&p["wall_s"]),
        fmt(&p["jobs_per_s"]),
        fmt(&p["commit_to_job_done_p50_ms"]),
        fmt(&p["commit_to_job_done_p99_ms"]),
    )
}

fn webhooks(r: &Value) -> String {
    let w = &r["webhooks"];
    format!(
        "\n## Webhooks (stream → relay → queue → worker → deliveries queue → deliverer → receiver, in process)\n\n{} items \
         created one after another while the pumps run; every event goes to one healthy receiver on 127.0.0.1, which \
         verifies each signature (Standard Webhooks). Delay: from the item's commit to the receiver's clock on arrival; \
         like the pipeline's, mostly the backlog of the burst on 2 shared cores.\n\n\
         | delivered | distinct webhook-ids | verified | wall s | deliveries/s | commit → delivery p50 ms | p99 ms |\n\
         |---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} |\n",
        fmt(&w["events"]),
        fmt(&w["delivered"]),
        fmt(&w["distinct_webhook_ids"]),
        fmt(&w["verified"]),
        fmt(&w["wall_s"]),
        fmt(&w["deliveries_per_s"]),
        fmt(&w["commit_to_delivery_p50_ms"]),
        fmt(&w["commit_to_delivery_p99_ms"]),
    )
}

fn hot(r: &Value) -> String {
    let h = &r["hot_target"];
    format!(
        "\n## One item referenced by many (`hot_target`, handler and worker in process)\n\n{} referrers (a `detach` reference \
         each) loaded through the store with their edges in {} s. Then {} creates referencing the item (`restrict`), its \
         delete refused {} times while they hold it (naming {} of {}), and, once they and the item are deleted, the worker's \
         cleanup of every referrer (100 a message, each message queuing the next). Linking is one edge and one counter \
         update whatever the number of referrers; the refused delete names the holders from their own `by_field` keys, one \
         Query of at most 100 keys, and reports the counter's exact total.\n\n\
         | case | p50 ms | p99 ms |\n|---|---|---|\n| create referencing the item | {} | {} |\n| refused delete | {} | {} |\n\n\
         | referrers detached | messages | wall s | referrers/s | edges left |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |\n",
        fmt(&h["referrers"]),
        fmt(&h["load_s"]),
        fmt(&h["create_referencing"]["requests"]),
        fmt(&h["refused_delete"]["requests"]),
        fmt(&h["refused_delete_names"]),
        fmt(&h["referenced_by_total"]),
        fmt(&h["create_referencing"]["p50_ms"]),
        fmt(&h["create_referencing"]["p99_ms"]),
        fmt(&h["refused_delete"]["p50_ms"]),
        fmt(&h["refused_delete"]["p99_ms"]),
        fmt(&h["referrers"]),
        fmt(&h["cleanup_messages"]),
        fmt(&h["cleanup_s"]),
        fmt(&h["cleanup_referrers_per_s"]),
        fmt(&h["edges_left"]),
    )
}

fn schedules(r: &Value) -> String {
    let s = &r["schedules"];
    format!(
        "\n## Schedules due in the same second (`schedules`, worker in process)\n\n{} draft items ({} asked for: as many \
         as were made 2 s before `at`), each with a publish schedule made through the API ({} s for all) at the same `at`. At `at` the bench sends every fire message to the \
         events queue, 10 a `SendMessageBatch`, as EventBridge Scheduler would, while 4 queue consumers run the worker. \
         Lateness: from `at` to the item's new version. Sending to moto takes most of it here; on AWS the Scheduler sends \
         the messages itself and Lambda adds consumers as the queue grows. moto's Scheduler is not in the figure: creating \
         a thousand schedules there takes minutes of its CPU, so the bench does not arm them (`tests/tests/suite/schedules.rs` \
         covers arming and the clock).\n\n\
         | schedules | published once | records done | all sent, s | wall s | lateness p50 ms | p99 ms | max ms |\n\
         |---|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        fmt(&s["schedules"]),
        fmt(&s["asked"]),
        fmt(&s["made_s"]),
        fmt(&s["schedules"]),
        fmt(&s["published_once"]),
        fmt(&s["records_done"]),
        fmt(&s["sent_s"]),
        fmt(&s["wall_s"]),
        fmt(&s["lateness_p50_ms"]),
        fmt(&s["lateness_p99_ms"]),
        fmt(&s["lateness_max_ms"]),
    )
}

/// How to run it again, with this run's settings.
fn knobs(r: &Value) -> String {
    format!(
        "\n## Running it\n\n`make bench` (`scripts/bench.sh`): installs what is missing, builds both targets once and runs every \
         section, each on freshly started services (this run's time, and where it went, are at the top). Settings (environment, this run's \
         value): `FOLIO_BENCH_REQUESTS` ({}) and `FOLIO_BENCH_ENDPOINT_S` ({}) per endpoint, `FOLIO_BENCH_BATCH_REQUESTS` \
         ({}), `FOLIO_BENCH_STARTS` ({}) per function, `FOLIO_BENCH_LIST_SIZES` ({}), `FOLIO_BENCH_LIST_REQUESTS` ({}), \
         `FOLIO_BENCH_DELAYS_MS` ({}), `FOLIO_BENCH_PIPELINE_DELETES` ({}), `FOLIO_BENCH_WEBHOOK_EVENTS` ({}), \
         `FOLIO_BENCH_REFERRERS` ({}), `FOLIO_BENCH_SCHEDULES` ({}); `FOLIO_BENCH_ONLY=<section>` runs one section; \
         `FOLIO_BENCH_REPORT_FROM=target/folio-bench.json` writes this page and its plots again from a saved run, measuring nothing.\n",
        fmt(&r["requests_per_endpoint"]),
        fmt(&r["endpoint_budget_s"]),
        fmt(&r["endpoints"]["batch_delete_100"]["requests"]),
        fmt(&r["starts_per_function"]),
        keys(&r["list_scale"]),
        fmt(&r["list_requests"]),
        keys(&r["latency_model"]),
        fmt(&r["pipeline"]["deletes"]),
        fmt(&r["webhooks"]["events"]),
        fmt(&r["hot_target"]["referrers"]),
        fmt(&r["schedules"]["schedules"]),
    )
}

fn keys(v: &Value) -> String {
    let keys: Vec<&str> = by_number(v).iter().map(|(k, _)| k.as_str()).collect();
    keys.join(",")
}
