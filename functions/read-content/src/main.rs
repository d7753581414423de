//! `GET /v2/content/?keys=a,b` (ButterCMS): one or more collections, or one item, in one read.
//! All logic lives in `folio::api::read`; this binary only wires it.

use folio::App;
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|req| folio::api::read::keys(&app, req))).await
}
