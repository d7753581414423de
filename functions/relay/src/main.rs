//! The table's stream → the events queue. All logic lives in
//! `folio::events::relay`; this binary only wires it.

use aws_lambda_events::event::dynamodb::Event;
use folio::events::relay::Relay;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let relay = Relay::from_env().await?;
    let relay = &relay;
    run(service_fn(|event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(relay.handle(event.payload).await)
    }))
    .await
}
