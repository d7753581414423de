//! The events queue → the jobs. All logic lives in
//! `folio::events::worker`; this binary only wires it.

use aws_lambda_events::event::sqs::SqsEvent;
use folio::events::worker::Worker;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    folio::init_tracing();
    let worker = Worker::from_env().await?;
    let worker = &worker;
    run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(worker.handle(event.payload).await)
    }))
    .await
}
