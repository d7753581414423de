//! Local stand-ins for the triggers AWS runs around the functions (used by
//! `make dev` and the tests): the stream pump feeds the relay as the
//! table's stream trigger would, and the queue pump feeds the worker as
//! the queue's trigger would (for the worker and the deliverer), the
//! clock fires due schedules as EventBridge Scheduler would; the receiver
//! stands in for a webhook receiver.

pub mod clock;
pub mod pump;
pub mod queue;
pub mod receiver;
