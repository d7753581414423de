//! `GET /v2/webhooks/{webhook_id}/`: one webhook endpoint (never its secret).
//! All logic lives in `folio::api::webhooks`; this binary only wires it.

use folio::App;
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|req| folio::api::webhooks::get(&app, req))).await
}
