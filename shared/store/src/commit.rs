//! Committing a write: one request per attempt (a single conditional
//! Put/Update, or one `TransactWriteItems`), the one mapping from a failed
//! condition to a `WriteFailure`, the transaction bounds, request tokens
//! that make SDK retries safe, and jittered backoff for lost races.
//! - `ops`: what a write is planned as (`Op`: a role and an action), index
//!   entries as sent with their value counts (`wire`), and the bounds;
//! - `send`: sending an attempt and reading why it failed (`Store::commit`);
//! - `retry`: the attempts of one write, and what every write does with
//!   the failures it has no reaction of its own to (`Retry`).
//!
//! A write is recognised as already done when a failed condition hands back
//! an item carrying this request's `write_token`: a retry after a lost
//! response then answers what the first try did, not 404 or 500.

mod ops;
mod retry;
mod send;

pub(crate) use ops::{Action, EntryKeys, Op, Role};
pub(crate) use retry::{Attempts, Retry};
pub(crate) use send::{cancellation, parse_record, Failed};

use folio_core::content::ItemRecord;
use folio_core::error::Error;
use folio_core::ids::{CollectionKey, ItemId};

/// DynamoDB's bounds for one `TransactWriteItems`.
pub const MAX_ACTIONS: usize = 100;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// An item another item points at.
pub type Target = (CollectionKey, ItemId);

/// A stored idempotency record, as the failed create found it.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub response: String,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// An item's own condition failed; the item as it is now (None: absent).
    Item(Option<Box<ItemRecord>>),
    /// Targets to link that are missing or deleted.
    MissingTargets(Vec<Target>),
    /// Targets to release that no longer exist.
    GoneTargets(Vec<Target>),
    Idempotent(IdempotencyRecord),
    /// Another transaction held one of the items (the idempotency
    /// record: another request with the same key is running).
    Conflict {
        idempotency: bool,
    },
    /// The item being cleaned up after was restored meanwhile.
    Restored,
    /// A schedule record's condition failed: it has ended (or, new, exists).
    Schedule,
    /// More actions than one transaction holds.
    TooMany,
    TooLarge,
    Fault(Error),
}

impl From<Error> for WriteFailure {
    fn from(e: Error) -> Self {
        WriteFailure::Fault(e)
    }
}

/// What a commit did.
#[derive(Debug)]
pub(crate) enum Committed {
    /// Written now; for a single Update, the item as it was before.
    Done(Option<Box<ItemRecord>>),
    /// This request's write had already landed (a retry after a lost
    /// response); the item as it is now.
    AlreadyDone(Box<ItemRecord>),
}
