//! One module per endpoint family; each public `handle` is what a Lambda
//! binary in `functions/` runs. Handlers parse, call `store` and shape the
//! response; they hold no invariant of their own. A write's only request is
//! its DynamoDB write: its event leaves through the table's stream.

pub mod bodies;
pub mod collections;
pub mod create;
pub mod delete;
pub mod openapi;
pub mod read;
pub mod routes;
pub mod schedules;
pub mod trash;
pub mod update;
pub mod versions;
pub mod webhooks;
