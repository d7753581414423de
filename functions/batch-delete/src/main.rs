//! `POST /v2/content/{collection_key}/batch-delete/`: deletes up to 100 items.
//! All logic lives in `folio::api::delete`; this binary only wires it.

use folio::App;
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|req| folio::api::delete::batch(&app, req))).await
}
