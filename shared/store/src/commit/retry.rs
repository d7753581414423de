//! The attempts of one write: request tokens, budget and backoff.

use std::time::Duration;

use sha2::{Digest, Sha256};

use folio_core::error::Error;

/// Attempts of one write before it answers 409: lost races re-plan at
/// once, transaction conflicts back off (full jitter, 20 ms doubling to
/// 640 ms; about 2.5 s in the worst case, well inside a 10 s function).
const MAX_ATTEMPTS: u32 = 10;
const BACKOFF_BASE_MS: u64 = 20;
const BACKOFF_CAP_MS: u64 = 640;

/// The attempts of one write: request tokens and backoff.
#[derive(Debug)]
pub(crate) struct Attempts {
    request_id: String,
    n: u32,
}

impl Attempts {
    pub fn new(request_id: &str) -> Self {
        Attempts {
            request_id: request_id.to_owned(),
            n: 0,
        }
    }

    /// Starts the next attempt; false when the budget is spent.
    pub fn next(&mut self) -> bool {
        self.n += 1;
        self.n <= MAX_ATTEMPTS
    }

    /// Waits before retrying a transaction conflict: full jitter.
    pub async fn backoff(&self) {
        let cap = BACKOFF_CAP_MS.min(BACKOFF_BASE_MS << self.n.min(10));
        let mut bytes = [0u8; 8];
        let r = getrandom::fill(&mut bytes).map_or(cap / 2, |_| u64::from_le_bytes(bytes));
        tokio::time::sleep(Duration::from_millis(r % (cap + 1))).await;
    }

    /// `ClientRequestToken` of this attempt: an SDK retry of the same
    /// attempt is the same token, a re-planned attempt a new one.
    pub fn client_token(&self) -> String {
        token(&format!("{}#{}", self.request_id, self.n))
    }

    /// The token of this attempt's `round`th send (a send again after
    /// learning stored entries is another request).
    pub(super) fn round_token(&self, round: usize) -> String {
        match round {
            0 => self.client_token(),
            r => token(&format!("{}#{}#{r}", self.request_id, self.n)),
        }
    }

    /// Marks every item this request writes, whatever the attempt.
    pub fn write_token(&self) -> String {
        token(&self.request_id)
    }

    pub fn conflict() -> Error {
        Error::Conflict("The item is being changed by other requests; try again.".into())
    }
}

fn token(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_attempt_and_fit_dynamodb() {
        let mut a = Attempts::new("req-1");
        assert!(a.next());
        let first = a.client_token();
        assert_eq!(first, a.client_token());
        assert!(a.next());
        assert_ne!(first, a.client_token());
        assert_eq!(a.write_token(), Attempts::new("req-1").write_token());
        assert!(first.len() <= 36);
        let mut n = 2;
        while a.next() {
            n += 1;
        }
        assert_eq!(n, MAX_ATTEMPTS);
    }
}
