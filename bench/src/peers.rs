//! Cold start beside its peers: Folio's `delete-item`, the bare runtime
//! (`echo_floor`), and the same delete written in Python with boto3
//! (`python_boto3`) and in Node.js with the AWS SDK v3 (`node_sdk_v3`,
//! Webiny's runtime), both in `bench/peers/`: one conditional write each.
//! They start in turn within one loop, so the machine's noise meets all
//! alike; each start gets an item of its own to delete.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use folio_tests::runtime::{lambda_command, RuntimeStub};
use folio_tests::{event_text, repo_root, TestApp};
use serde_json::{json, Value};

use crate::{ms, peak_rss_mb, starts_summary, target_dir, Budget};

/// A function as started: its program, arguments, and whether it deletes.
struct Contender {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

fn contenders() -> Vec<Contender> {
    let root = repo_root();
    let release = target_dir().join("release");
    let tools = root.join(".tools");
    vec![
        Contender {
            name: "echo_floor",
            program: release.join("echo-floor"),
            args: vec![],
        },
        Contender {
            name: "delete-item",
            program: release.join("delete-item"),
            args: vec![],
        },
        Contender {
            name: "python_boto3",
            program: tools.join("venv/bin/python"),
            args: vec![root
                .join("bench/peers/python_boto3.py")
                .display()
                .to_string()],
        },
        // scripts/bench.sh installs the SDK beside a copy of the handler.
        Contender {
            name: "node_sdk_v3",
            program: PathBuf::from("node"),
            args: vec![tools
                .join("bench-node/node_sdk_v3.mjs")
                .display()
                .to_string()],
        },
    ]
}

/// One start: (init ms, first response ms, peak RSS MB, status).
async fn one_start(
    c: &Contender,
    event: &str,
    env: &[(String, String)],
) -> Option<(f64, f64, Option<f64>, u64)> {
    let stub = RuntimeStub::start(vec![event.to_owned()]).await;
    let started = Instant::now();
    let mut child = lambda_command(&c.program, c.name, stub.addr, env)
        .args(&c.args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let result = stub.wait_for(1, Duration::from_secs(30)).await;
    let peak = peak_rss_mb(child.id());
    child.kill().ok();
    child.wait().ok();
    let responses = result.ok()?;
    let status = serde_json::from_str::<Value>(&responses[0])
        .ok()
        .and_then(|v| v["statusCode"].as_u64())
        .unwrap_or(0);
    let (n, r) = (stub.first_next()?, stub.first_response()?);
    Some((ms(n - started), ms(r - started), peak, status))
}

/// Init ms, first response ms, peak RSS MB, and the statuses answered.
type Samples = (Vec<f64>, Vec<f64>, Vec<f64>, BTreeMap<String, u64>);

/// `starts` rounds, each starting every contender once on a fresh item.
pub async fn peers(t: &TestApp, starts: usize) -> BTreeMap<String, Value> {
    let contenders: Vec<Contender> = contenders()
        .into_iter()
        .filter(|c| {
            let found =
                c.program.exists() || Command::new(&c.program).arg("--version").output().is_ok();
            if !found {
                eprintln!("bench: peer {} missing ({})", c.name, c.program.display());
            }
            found
        })
        .collect();
    let mut env = t.function_env();
    env.push(("FOLIO_PEER_ORG".into(), t.org.to_string()));
    let template = event_text("delete-item.json").replace("folio_EXAMPLE_TOKEN", &t.token);
    let mut samples: BTreeMap<&str, Samples> = BTreeMap::new();
    eprintln!("bench: cold start beside the peers ×{starts}");
    // The four in turn: a minute at most, at least one round.
    let budget = Budget::secs(60.0);
    for round in 0..starts {
        if round > 0 && budget.spent() {
            break;
        }
        for c in &contenders {
            let id = t
                .create("team_members", "published", json!({"en": {"name": "Peer"}}))
                .await;
            let event = template.replace("01JF0000000000000000000000", &id);
            let Some((init, first, rss, status)) = one_start(c, &event, &env).await else {
                continue;
            };
            let s = samples.entry(c.name).or_default();
            s.0.push(init);
            s.1.push(first);
            s.2.extend(rss);
            *s.3.entry(status.to_string()).or_insert(0) += 1;
        }
    }
    samples
        .into_iter()
        .map(|(name, (init, first, rss, statuses))| {
            let mut summary = starts_summary(init, first, rss, json!(statuses));
            summary["alternated"] = json!(true);
            (name.to_owned(), summary)
        })
        .collect()
}
