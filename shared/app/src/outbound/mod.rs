//! Outbound HTTP to URLs users give: webhook receivers and media sources.
//! Every request passes the address guard (`guard`), before it is sent and
//! again at connection time (the client's only resolver is the guard), on
//! every redirect it follows. Connect and total timeouts are bounded; no
//! proxy from the environment is used (it would connect on our behalf to an
//! address the guard never saw). Errors never carry the URL: a webhook URL
//! may hold a secret in its query.

pub mod guard;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

pub use guard::{Guard, Refused};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("refused: {0}")]
    Refused(#[from] Refused),
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("{0}")]
    Failed(String),
}

impl OutboundError {
    fn from_reqwest(e: reqwest::Error) -> Self {
        // A refusal from the resolver arrives as a connect error.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Refused>() {
                return OutboundError::Refused(r.clone());
            }
            source = s.source();
        }
        if e.is_timeout() {
            OutboundError::Timeout
        } else if e.is_connect() {
            OutboundError::Connect
        } else {
            OutboundError::Failed(e.without_url().to_string())
        }
    }
}

/// A guarded HTTP client.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    guard: Guard,
}

/// The client's timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Outbound {
    pub fn new(guard: Guard, timeouts: Timeouts, user_agent: &str) -> Result<Self, OutboundError> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(guard::GuardedResolver(guard.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(user_agent)
            .build()
            .map_err(|e| OutboundError::Failed(e.without_url().to_string()))?;
        Ok(Outbound { client, guard })
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// One request; a redirect is answered as it is (not followed).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, OutboundError> {
        let url = self.guard.check_url(url)?;
        self.client
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(OutboundError::from_reqwest)
    }

    /// A GET that follows up to `max_redirects` redirects, each checked by
    /// the guard as the first URL was.
    pub async fn get(
        &self,
        url: &str,
        max_redirects: usize,
    ) -> Result<reqwest::Response, OutboundError> {
        let mut url = self.guard.check_url(url)?;
        for _ in 0..=max_redirects {
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(OutboundError::from_reqwest)?;
            if !is_redirect(response.status()) {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| OutboundError::Failed("a redirect without a Location".into()))?;
            let next = url.join(location).map_err(|_| Refused::BadUrl)?;
            url = self.guard.check_url(next.as_str())?;
        }
        Err(Refused::TooManyRedirects(max_redirects).into())
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}
