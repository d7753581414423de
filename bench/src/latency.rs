//! `latency_model`: the endpoints as they would behave with AWS's network
//! between the function and DynamoDB. A TCP proxy in front of DynamoDB
//! Local delays every byte by half the round trip each way (each chunk is
//! held until its own arrival time plus the delay, so pipelined or large
//! bodies are not delayed once per chunk), and the handlers run against it
//! at 0, 4 and 10 ms of added round trip. (The API's handlers call only
//! DynamoDB: events leave through the table's stream, so moto is not on
//! the request path.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{ms, percentile, round3, Bench, Budget, Samples};

/// A proxy to `upstream` adding `round_trip` to every exchange.
pub struct DelayProxy {
    pub url: String,
    accept: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    pub async fn start(upstream: &str, round_trip: Duration) -> DelayProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let one_way = round_trip / 2;
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(delayed(cr, sw, one_way));
                tokio::spawn(delayed(sr, cw, one_way));
            }
        });
        DelayProxy { url, accept }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read.
async fn delayed(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Create, get, delete and batch delete at each added round trip.
pub async fn latency_model(delays_ms: &[u64], requests: usize, batch_runs: usize) -> Value {
    let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("the local DynamoDB endpoint (services.env)");
    let mut out = serde_json::Map::new();
    for &delay in delays_ms {
        let proxy = DelayProxy::start(&upstream, Duration::from_millis(delay)).await;
        let b = Bench::new_via(&["en", "es"], Some(&proxy.url)).await;
        eprintln!("bench: latency model, {delay} ms added round trip");
        let mut endpoints = serde_json::Map::new();
        let mut created = Vec::with_capacity(requests);
        let mut s = Samples::default();
        let budget = Budget::secs(crate::endpoint_s());
        for i in 0..requests + 5 {
            if i >= 5 && budget.spent() {
                break;
            }
            let r = b
                .call("POST", "/v2/content/", Some(json!({"key": "team_members", "status": "published", "fields": [{"en": {"name": format!("N{i}"), "age": 30}}]})))
                .await;
            if i >= 5 {
                s.add(r);
            }
        }
        // As many items to read and delete as creates were measured.
        let made = s.n;
        endpoints.insert("create".into(), s.report());
        created.extend(b.create_many(made).await);
        let mut s = Samples::default();
        let budget = Budget::secs(crate::endpoint_s());
        for id in &created {
            if budget.spent() {
                break;
            }
            s.add(
                b.call("GET", &format!("/v2/content/team_members/{id}/"), None)
                    .await,
            );
        }
        endpoints.insert("get".into(), s.report());
        let mut s = Samples::default();
        let budget = Budget::secs(crate::endpoint_s());
        for id in &created {
            if budget.spent() {
                break;
            }
            s.add(
                b.call("DELETE", &format!("/v2/content/team_members/{id}/"), None)
                    .await,
            );
        }
        endpoints.insert("delete".into(), s.report());
        // The handlers' own CPU: outside AWS calls, less the SDK's
        // assembly of each call (measured alone, same client).
        let setup = b.sdk_call_setup_ms(requests).await;
        for e in endpoints.values_mut() {
            let own = e["handler_cpu_p50_ms"].as_f64().unwrap_or_default();
            let calls = e["ddb_requests"].as_f64().unwrap_or_default();
            e["handler_net_cpu_p50_ms"] = json!(round3((own - calls * setup).max(0.0)));
        }
        endpoints.insert("sdk_call_setup_cpu_ms".into(), json!(setup));
        let (mut parallel, mut sequential) = (Vec::new(), Vec::new());
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for _ in 0..batch_runs {
            let ids = b.create_many(100).await;
            let (status, wall, _) = b
                .call(
                    "POST",
                    "/v2/content/team_members/batch-delete/",
                    Some(json!(ids)),
                )
                .await;
            *statuses.entry(status).or_default() += 1;
            parallel.push(ms(wall));
            let ids = b.create_many(100).await;
            let start = Instant::now();
            for id in &ids {
                let (status, _, _) = b
                    .call("DELETE", &format!("/v2/content/team_members/{id}/"), None)
                    .await;
                *statuses.entry(status).or_default() += 1;
            }
            sequential.push(ms(start.elapsed()));
        }
        let (p, q) = (median(parallel), median(sequential));
        endpoints.insert(
            "batch_delete_100".into(),
            json!({
                "parallel_ms": p,
                "sequential_ms": q,
                "speedup": (q / p * 10.0).round() / 10.0,
                "runs": batch_runs,
                "statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            }),
        );
        out.insert(delay.to_string(), Value::Object(endpoints));
        b.t.drop_table().await;
    }
    Value::Object(out)
}
