//! A TCP proxy that can hang: put it in front of a local service to make
//! that service, for one client only, accept connections and never answer
//! (as a hung or partitioned endpoint does), without touching the service
//! other tests share.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Paused,
    /// Open until the service answers once; that answer is held and
    /// everything after it hangs.
    PauseOnAnswer,
}

pub struct Proxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the client.
    pub url: String,
    state: Arc<watch::Sender<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`), open.
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(watch::Sender::new(State::Open));
        let s = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, s.clone(), false));
                tokio::spawn(pipe(sr, cw, s.clone(), true));
            }
        });
        Proxy { url, state, accept }
    }

    /// Connections are accepted and nothing passes either way.
    pub fn pause(&self) {
        self.state.send_replace(State::Paused);
    }

    /// Lets the next request through and holds its answer: the service has
    /// done the work, the client never hears of it, and everything after
    /// hangs (a client killed or cut off in the middle of a batch).
    pub fn pause_on_answer(&self) {
        self.state.send_replace(State::PauseOnAnswer);
    }

    pub fn resume(&self) {
        self.state.send_replace(State::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    state: Arc<watch::Sender<State>>,
    answers: bool,
) {
    let mut rx = state.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if answers {
            state.send_if_modified(|s| {
                let trip = *s == State::PauseOnAnswer;
                if trip {
                    *s = State::Paused;
                }
                trip
            });
        }
        if rx.wait_for(|s| *s != State::Paused).await.is_err() {
            break;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
