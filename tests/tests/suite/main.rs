//! The integration tests: one test binary, one module per subject, so the
//! AWS SDK and `folio` are linked once rather than once per file.
//! `scripts/test.sh` runs each module on fresh local services of its own
//! (`cargo test -p folio-tests --test suite -- --exact <its tests>`);
//! `cargo test -p folio-tests --test suite -- webhooks::` runs one by hand.
//! proptest keeps the failures it saw in `../proptest-regressions/` (beside
//! the directory holding `main.rs`): `paging.rs`'s in `paging.txt`.

// Crate-level: hot_targets, keys_reads, media, paging and webhooks each set
// it when they were binaries of their own.
#![recursion_limit = "256"]

mod audit;
mod auth_and_collections;
mod background_audit;
mod binaries;
mod concurrency_and_faults;
mod drafts;
mod drafts_events;
mod fuzz_handlers;
mod hot_targets;
mod indexed;
mod items;
mod keys_reads;
mod media;
mod paging;
mod pipeline;
mod reads_and_tenancy;
mod references;
mod routes;
mod schedules;
mod value_counts;
mod version_upkeep;
mod versions;
mod webhook_limits;
mod webhooks;
