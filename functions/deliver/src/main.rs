//! The deliveries queue → signed webhooks. All logic lives in
//! `folio::events::deliver`; this binary only wires it.

use aws_lambda_events::event::sqs::SqsEvent;
use folio::events::deliver::Deliverer;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let deliverer = Deliverer::from_env().await?;
    let deliverer = &deliverer;
    run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(deliverer.handle(event.payload).await)
    }))
    .await
}
