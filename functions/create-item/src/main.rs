//! `POST /v2/content/` and `POST /v2/content/{collection_key}/`: creates 1–25 items.
//! All logic lives in `folio::api::create`; this binary only wires it.

use folio::App;
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|req| folio::api::create::handle(&app, req))).await
}
