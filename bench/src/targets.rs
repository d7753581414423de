//! The targets the project holds itself to, judged on one run's JSON:
//! each with this run's figure, met or missed, and the reason where
//! missed (the end of BENCHMARKS.md, and `targets` in the JSON).

use serde_json::{json, Value};

use crate::report::{fmt, num};

/// One target: what it asks, this run's figure, met or not, and why.
fn target(name: &str, figure: String, met: Option<bool>, why: String) -> Value {
    json!({"target": name, "figure": figure, "met": met, "why": why})
}

/// The targets the project holds itself to, judged on this run.
pub fn judge(r: &Value) -> Value {
    let mut out = Vec::new();
    // Cold start: every function's init within 1 ms of the bare runtime.
    let cold = &r["cold_start"];
    let floor = num(&cold["echo_floor"]["init_ms"]);
    let above: Vec<(String, f64)> = cold
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !["echo_floor", "python_boto3", "node_sdk_v3"].contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), num(&v["init_ms"])? - floor?)))
        .collect();
    let worst = above.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    let over: Vec<&str> = above
        .iter()
        .filter(|(_, d)| *d > 1.0)
        .map(|(k, _)| k.as_str())
        .collect();
    out.push(match worst {
        Some((f, d)) => target(
            "Cold start: init ≤ the bare runtime's + 1 ms, every function",
            format!(
                "at most {:.2} ms above ({f}); floor {} ms",
                d,
                fmt(&cold["echo_floor"]["init_ms"])
            ),
            Some(over.is_empty()),
            if over.is_empty() {
                String::new()
            } else {
                format!(
                    "{} of {} functions above: {}",
                    over.len(),
                    above.len(),
                    over.join(", ")
                )
            },
        ),
        None => target(
            "Cold start: init ≤ the bare runtime's + 1 ms",
            "not run".into(),
            None,
            String::new(),
        ),
    });
    // Handler overhead of the single-item endpoints.
    let single = [
        "create",
        "get",
        "put",
        "patch",
        "delete",
        "patch_draft",
        "get_with_draft",
    ];
    let eps = &r["endpoints"];
    let overheads: Vec<(&str, f64)> = single
        .iter()
        .filter_map(|&k| Some((k, num(&eps[k]["overhead_p50_ms"])?)))
        .collect();
    let over: Vec<String> = overheads
        .iter()
        .filter(|(_, o)| *o > 0.3)
        .map(|(k, o)| format!("{k} {o}"))
        .collect();
    let own: Vec<f64> = r["latency_model"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .flat_map(|d| d.as_object().into_iter().flat_map(|e| e.values()))
        .filter_map(|e| num(&e["handler_net_cpu_p50_ms"]))
        .collect();
    let own_range = match (
        own.iter().copied().reduce(f64::min),
        own.iter().copied().reduce(f64::max),
    ) {
        (Some(a), Some(b)) => format!("; Folio's own CPU in the latency model {a}–{b} ms"),
        _ => String::new(),
    };
    let max = overheads.iter().map(|o| o.1).reduce(f64::max);
    out.push(target(
        "Handler overhead p50 ≤ 0.3 ms (single-item endpoints)",
        max.map_or("not run".into(), |m| format!("at most {m} ms")),
        max.map(|m| m <= 0.3),
        if over.is_empty() {
            own_range.trim_start_matches("; ").to_owned()
        } else {
            format!(
                "above: {} ms; the time outside AWS calls includes the SDK's assembly of each call (see the latency model){own_range}",
                over.join(", ")
            )
        },
    ));
    // Lists flat: the largest size within 1.5× of 1,000, units and p50.
    let lists = &r["list_scale"];
    let sizes: Vec<usize> = lists
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| k.parse().ok())
        .collect();
    for big in [100_000usize, 1_000_000] {
        let name = format!("Lists at {big} items within 1.5× of 1,000 (p50 and read units, every case, both views)");
        if !sizes.contains(&big) || !sizes.contains(&1000) {
            out.push(target(
                &name,
                "not run".into(),
                None,
                format!("`FOLIO_BENCH_LIST_SIZES=1000,{big}` runs it"),
            ));
            continue;
        }
        let (small, large) = (&lists["1000"], &lists[big.to_string().as_str()]);
        let mut worst = (0.0f64, String::new());
        let mut over = Vec::new();
        for (case, c) in large.as_object().into_iter().flatten() {
            for key in ["capacity_units", "p50_ms"] {
                if let (Some(a), Some(b)) = (num(&small[case][key]), num(&c[key])) {
                    let ratio = b / a;
                    if ratio > worst.0 {
                        worst = (ratio, format!("{case} {key}"));
                    }
                    if ratio > 1.5 {
                        over.push(format!("{case} {key} {:.2}×", ratio));
                    }
                }
            }
        }
        out.push(target(
            &name,
            format!("at most {:.2}× ({})", worst.0, worst.1),
            Some(over.is_empty()),
            over.join(", "),
        ));
    }
    // Batch delete against sequential deletes under the latency model.
    for (delay, want) in [("4", 5.0), ("10", 8.0)] {
        let b = &r["latency_model"][delay]["batch_delete_100"];
        let name = format!(
            "Batch delete of 100 ≥ {want}× 100 sequential deletes at {delay} ms added round trip"
        );
        out.push(match num(&b["speedup"]) {
            Some(s) => target(
                &name,
                format!("{s}× ({} against {} ms)", fmt(&b["parallel_ms"]), fmt(&b["sequential_ms"])),
                Some(s >= want),
                if s >= want {
                    String::new()
                } else {
                    "the batch waits on DynamoDB Local's CPU (a 25-delete transaction), which shares the 2 cores with everything else".into()
                },
            ),
            None => target(&name, "not run".into(), None, String::new()),
        });
    }
    // Zero SQS requests on the request path.
    let writes = [
        "create",
        "put",
        "patch",
        "patch_draft",
        "delete",
        "batch_delete_100",
    ];
    let sqs: Vec<(&str, f64)> = writes
        .iter()
        .filter_map(|&k| Some((k, num(&eps[k]["sqs_requests"])?)))
        .collect();
    let any: Vec<String> = sqs
        .iter()
        .filter(|(_, n)| *n > 0.0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    out.push(target(
        "0 SQS requests per write (events leave through the table's stream)",
        if sqs.is_empty() {
            "not run".into()
        } else {
            format!(
                "{} across {}",
                sqs.iter().map(|s| s.1).sum::<f64>(),
                writes.join(", ")
            )
        },
        (!sqs.is_empty()).then_some(any.is_empty()),
        any.join(", "),
    ));
    // Size and memory.
    let biggest = r["binary_size_mb"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), num(v)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    out.push(match biggest {
        Some((f, mb)) => target(
            "arm64 `bootstrap` ≤ 10 MB",
            format!("at most {mb} MB ({f})"),
            Some(mb <= 10.0),
            String::new(),
        ),
        None => target(
            "arm64 `bootstrap` ≤ 10 MB",
            "not built".into(),
            None,
            String::new(),
        ),
    });
    let large = &lists["large_items_350kb"]["default_order"];
    out.push(match num(&large["peak_mb"]) {
        Some(p) => target(
            "A page of 350 KB items: peak heap ≤ 64 MB, half a 128 MB function",
            format!(
                "{p} MB peak heap, {} items a page",
                fmt(&large["items_per_page"])
            ),
            Some(p <= 64.0),
            String::new(),
        ),
        None => target(
            "A page of 350 KB items: peak heap ≤ 64 MB, half a 128 MB function",
            "not run".into(),
            None,
            String::new(),
        ),
    });
    Value::Array(out)
}

/// The targets table that ends BENCHMARKS.md.
pub fn markdown(r: &Value) -> String {
    let mut md = String::from(
        "\n## Targets\n\nJudged on this run's figures (`targets` in the JSON).\n\n\
         | target | this run | met | why, where missed |\n|---|---|---|---|\n",
    );
    for t in r["targets"].as_array().into_iter().flatten() {
        let met = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not run",
        };
        md += &format!(
            "| {} | {} | {met} | {} |\n",
            fmt(&t["target"]),
            fmt(&t["figure"]),
            fmt(&t["why"])
        );
    }
    md
}
