//! A webhook receiver on 127.0.0.1: it records every request, verifies its
//! Standard Webhooks signature when given the secret (with the
//! `standardwebhooks` crate, as a receiver would), and answers as its
//! `Behavior` says: a status, a redirect, a file, or no answer at all
//! (hang). The tests use it as the receivers that fail in every way and as
//! media servers; `folio-receiver` runs one for `make dev`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How the receiver answers its `n`th request (0-based).
pub type Behavior = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// A 301 to this URL.
    Redirect(String),
    /// Accept the request, never answer.
    Hang,
    /// 200 with this body (as `application/octet-stream`: the sender must
    /// not trust a declared type), after waiting `delay`.
    Serve {
        body: Bytes,
        delay: std::time::Duration,
    },
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The signature checked against the secret (None: no secret given).
    pub verified: Option<bool>,
    /// When it arrived.
    pub at: std::time::SystemTime,
}

impl Received {
    pub fn webhook_id(&self) -> &str {
        self.headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>/`
    pub url: String,
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    secret: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver on a free port of 127.0.0.1.
    pub async fn start(behavior: Behavior) -> std::io::Result<Receiver> {
        Self::bind("127.0.0.1:0".parse().expect("an address"), behavior).await
    }

    pub async fn bind(addr: SocketAddr, behavior: Behavior) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let secret: Arc<Mutex<Option<String>>> = Arc::default();
        let (r, s) = (received.clone(), secret.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, s, behavior) = (r.clone(), s.clone(), behavior.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let (r, s, behavior) = (r.clone(), s.clone(), behavior.clone());
                        async move { Ok::<_, Infallible>(answer(req, &r, &s, &behavior).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            url: format!("http://{addr}/"),
            addr,
            received,
            secret,
            task,
        })
    }

    /// Verifies every request from now on against `secret` (`whsec_…`).
    pub fn verify_with(&self, secret: &str) {
        *self.secret.lock().expect("not poisoned") = Some(secret.to_owned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("not poisoned").len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers with a fixed status every time.
pub fn always(status: u16) -> Behavior {
    Arc::new(move |_| Answer::Status(status))
}

async fn answer(
    req: hyper::Request<Incoming>,
    received: &Mutex<Vec<Received>>,
    secret: &Mutex<Option<String>>,
    behavior: &Behavior,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let secret = secret.lock().expect("not poisoned").clone();
    let verified = secret.map(|s| {
        standardwebhooks::Webhook::new(&s)
            .and_then(|w| w.verify(&body, &parts.headers))
            .is_ok()
    });
    let n = {
        let mut all = received.lock().expect("not poisoned");
        all.push(Received {
            headers: parts.headers.clone(),
            body: body.clone(),
            verified,
            at: std::time::SystemTime::now(),
        });
        all.len() - 1
    };
    tracing::info!(
        n,
        webhook_id = parts.headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("-"),
        verified = ?verified,
        event = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["webhook"]["event"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        bytes = body.len(),
        "webhook received"
    );
    let respond = |status: u16| {
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .body(Full::new(Bytes::new()))
            .expect("a valid response")
    };
    match behavior(n) {
        Answer::Status(s) => respond(s),
        Answer::Redirect(to) => {
            let mut r = respond(301);
            if let Ok(v) = to.parse() {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            r
        }
        Answer::Serve { body, delay } => {
            tokio::time::sleep(delay).await;
            Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(Full::new(body))
                .expect("a valid response")
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}
