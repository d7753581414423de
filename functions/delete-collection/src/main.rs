//! `DELETE /v2/collections/{collection_key}/`: remove a collection nothing needs.
//! All logic lives in `folio::api::collections`; this binary only wires it.

use folio::App;
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|req| folio::api::collections::delete(&app, req))).await
}
