//! `PUT /v2/content/{collection_key}/{item_id}/`: replaces an item's fields.
//! All logic lives in `folio::api::update`; this binary only wires it.

use folio::App;
use lambda_http::{run, service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let app = App::from_env().await?;
    run(service_fn(|req| folio::api::update::replace(&app, req))).await
}
