//! The attempts of one write (request tokens, budget, backoff) and how a
//! write retries (`Retry`): plan, commit, react to the failure, plan
//! again. A write plans an attempt, commits it and answers the failures
//! it has a reaction of its own to (an item handed back → plan on it; a
//! target gone → plan without it; a version moved → 412 …); `Retry` owns
//! the rest: the attempt budget, the backoff after a transaction
//! conflict, faults, failures the write cannot meet, and the 409 once the
//! attempts are spent.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::WriteFailure;
use folio_core::error::Error;

/// Attempts of one write before it answers 409: lost races re-plan at
/// once, transaction conflicts back off (full jitter, 20 ms doubling to
/// 640 ms; about 2.5 s in the worst case, well inside a 10 s function).
const MAX_ATTEMPTS: u32 = 10;
/// Attempts a write may add by losing races to other writers of its item
/// (`Retry::lost_race`): each lost race is another writer landing, so a
/// burst of n writers of one item needs up to n attempts.
const MAX_LOST_RACES: u32 = 30;
const BACKOFF_BASE_MS: u64 = 20;
const BACKOFF_CAP_MS: u64 = 640;

/// The attempts of one write: request tokens and backoff.
#[derive(Debug)]
pub(crate) struct Attempts {
    request_id: String,
    n: u32,
    /// Races lost so far: each adds an attempt.
    lost: u32,
}

impl Attempts {
    pub fn new(request_id: &str) -> Self {
        Attempts {
            request_id: request_id.to_owned(),
            n: 0,
            lost: 0,
        }
    }

    /// Starts the next attempt; false when the budget is spent.
    pub fn next(&mut self) -> bool {
        self.n += 1;
        self.n <= MAX_ATTEMPTS + self.lost
    }

    /// Waits before retrying a transaction conflict: full jitter.
    async fn backoff(&self) {
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

    fn conflict() -> Error {
        Error::Conflict("The item is being changed by other requests; try again.".into())
    }
}

fn token(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..32].to_owned()
}

/// How one write is retried: its attempts, and what it answers when a
/// failure comes that it has no reaction of its own to, or when the
/// attempts are spent. A write runs
///
/// ```text
/// let mut retry = Retry::new(attempts).unexpected("…");
/// loop {
///     let attempts = retry.next()?;      // the 409 once spent
///     let ops = /* plan on what is known */;
///     match self.commit(ops, attempts).await {
///         Ok(done) => return /* the answer */,
///         /* the failures it reacts to: learn, answer or refuse */
///         Err(f) => retry.failed(f).await?,  // backoff, fault, 500
///     }
/// }
/// ```
///
/// (A loop at each write rather than a closure run here: a closure's
/// future borrowing the write's state is not provably `Send` to the
/// compiler, which a Lambda handler needs.)
#[derive(Debug)]
pub(crate) struct Retry {
    attempts: Attempts,
    unexpected: &'static str,
    spent: fn() -> Error,
}

impl Retry {
    /// Retries with `attempts`: a 409 (`Attempts::conflict`) once they are
    /// spent.
    pub fn new(attempts: Attempts) -> Self {
        Retry {
            attempts,
            unexpected: "a write failed in a way it cannot",
            spent: Attempts::conflict,
        }
    }

    /// The message of the 500 for a failure the write cannot meet.
    pub fn unexpected(self, message: &'static str) -> Self {
        Retry {
            unexpected: message,
            ..self
        }
    }

    /// The answer once the attempts are spent, instead of the usual 409.
    pub fn when_spent(self, spent: fn() -> Error) -> Self {
        Retry { spent, ..self }
    }

    /// Starts the next attempt: its `Attempts`, for the tokens of its
    /// requests; the answer for spent attempts when none is left.
    pub fn next(&mut self) -> Result<&Attempts, Error> {
        if self.attempts.next() {
            Ok(&self.attempts)
        } else {
            Err((self.spent)())
        }
    }

    /// After losing a race to another writer of the item (its version
    /// moved): one more attempt, while fewer than `MAX_LOST_RACES` were
    /// lost, after a jittered wait so that a burst of writers spreads out.
    pub async fn lost_race(&mut self) {
        if self.attempts.lost < MAX_LOST_RACES {
            self.attempts.lost += 1;
        }
        self.attempts.backoff().await;
    }

    /// Meets a failure the write has no reaction of its own to: after a
    /// transaction conflict it waits (full jitter) and the write plans
    /// again; a fault is the answer; any other cannot happen to this
    /// write (a 500 saying `unexpected`).
    pub async fn failed(&self, failure: WriteFailure) -> Result<(), Error> {
        match failure {
            WriteFailure::Conflict { .. } => {
                self.attempts.backoff().await;
                Ok(())
            }
            WriteFailure::Fault(e) => Err(e),
            _ => Err(Error::internal(self.unexpected)),
        }
    }
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

    #[tokio::test]
    async fn a_retry_waits_out_conflicts_and_answers_the_rest() {
        let mut retry = Retry::new(Attempts::new("req-1")).unexpected("no such failure here");
        let mut tried = 0;
        while retry.next().is_ok() {
            tried += 1;
        }
        assert_eq!(tried, MAX_ATTEMPTS);
        assert!(matches!(retry.next(), Err(Error::Conflict(_))));
        let mut retry =
            Retry::new(Attempts::new("req-2")).when_spent(|| Error::Conflict("busy".into()));
        assert!(retry
            .failed(WriteFailure::Conflict { idempotency: false })
            .await
            .is_ok());
        assert!(matches!(
            retry.failed(WriteFailure::Fault(Error::NotFound)).await,
            Err(Error::NotFound)
        ));
        let unexpected = retry.failed(WriteFailure::TooMany).await.unwrap_err();
        assert!(matches!(unexpected, Error::Internal(_)));
        while retry.next().is_ok() {}
        assert!(matches!(retry.next(), Err(Error::Conflict(m)) if m == "busy"));
        // Each race lost to another writer adds an attempt, up to a bound.
        let mut retry = Retry::new(Attempts::new("req-3"));
        let mut tried = 0;
        while retry.next().is_ok() {
            tried += 1;
            if tried <= 3 {
                retry.attempts.lost += 1;
            }
        }
        assert_eq!(tried, MAX_ATTEMPTS + 3);
    }
}
