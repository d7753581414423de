//! A local stand-in for the Lambda Runtime API (the HTTP interface a
//! Lambda instance polls), so a real function binary can be started and
//! fed events exactly as Lambda feeds it. Used by the binary test and by
//! the benchmark's cold-start measurement.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    pending: Mutex<VecDeque<String>>,
    responses: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
    first_next: Mutex<Option<Instant>>,
    first_response: Mutex<Option<Instant>>,
    changed: Notify,
}

pub struct RuntimeStub {
    pub addr: SocketAddr,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeStub {
    /// Serves `events` in order, one per `GET …/invocation/next`; after the
    /// last, `next` never answers (as Lambda freezes an idle instance).
    pub async fn start(events: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            pending: Mutex::new(events.into()),
            ..State::default()
        });
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeStub {
            addr,
            state,
            server,
        }
    }

    /// Waits until `n` responses (or any error) have been posted.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            {
                let errors = self.state.errors.lock().unwrap();
                if !errors.is_empty() {
                    return Err(errors.join("\n"));
                }
                let responses = self.state.responses.lock().unwrap();
                if responses.len() >= n {
                    return Ok(responses.clone());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return Err(format!("timed out waiting for {n} responses"));
            }
        }
    }

    /// When the function first asked for work (its init was done).
    pub fn first_next(&self) -> Option<Instant> {
        *self.state.first_next.lock().unwrap()
    }

    pub fn first_response(&self) -> Option<Instant> {
        *self.state.first_response.lock().unwrap()
    }
}

impl Drop for RuntimeStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        state
            .first_next
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        let next = state.pending.lock().unwrap().pop_front();
        let Some(event) = next else {
            std::future::pending::<()>().await;
            unreachable!()
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            + Duration::from_secs(30);
        let response = Response::builder()
            .header(
                "lambda-runtime-aws-request-id",
                ulid::Ulid::new().to_string(),
            )
            .header(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:folio",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap();
        return Ok(response);
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    if path.ends_with("/response") {
        state
            .first_response
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        state.responses.lock().unwrap().push(text);
    } else if path.ends_with("/error") {
        state.errors.lock().unwrap().push(format!("{path}: {text}"));
    }
    state.changed.notify_waiters();
    Ok(Response::builder()
        .status(202)
        .body(Full::new(Bytes::new()))
        .unwrap())
}

/// A command for `program` as Lambda would start function `name`: the
/// Runtime API at `runtime` and Lambda's environment, then `env`.
pub fn lambda_command(
    program: &Path,
    name: &str,
    runtime: SocketAddr,
    env: &[(String, String)],
) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .env("AWS_LAMBDA_RUNTIME_API", runtime.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null());
    command
}

/// Starts a function binary against the stub with Lambda's environment.
pub fn spawn_function(
    binary: &Path,
    runtime: SocketAddr,
    env: &[(String, String)],
) -> std::process::Child {
    let name = binary.file_name().unwrap().to_string_lossy().into_owned();
    lambda_command(binary, &name, runtime, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
}
