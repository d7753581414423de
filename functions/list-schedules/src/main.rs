//! One HTTP function: the row of the endpoint table
//! (`folio::api::routes`) whose function is this package's name.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    folio::api::routes::serve(env!("CARGO_PKG_NAME")).await
}
