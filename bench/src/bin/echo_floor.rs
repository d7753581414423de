//! The cold-start floor: a `lambda_runtime` function that does nothing but
//! answer its event, built with the same profile as Folio's functions.
//! `make bench` starts it in the same harness as each function
//! (`cold_start.echo_floor`), so the difference is Folio's own start-up.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(e.payload)
    }))
    .await
}
