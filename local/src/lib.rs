//! Local stand-ins for the triggers AWS runs around the functions (used by
//! `make dev` and the tests): the stream pump feeds the relay as the
//! table's stream trigger would.

pub mod pump;
