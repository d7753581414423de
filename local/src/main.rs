//! `folio-pump`: the triggers AWS runs around the relay and the worker,
//! done locally (`make dev` runs it). It reads the table's stream from
//! DynamoDB Local and relays it to the events queue, as the stream trigger
//! does, and long-polls the events queue and runs the worker on it, as the
//! queue's trigger does, and the deliverer on the deliveries queue.
//! It also plays EventBridge Scheduler's clock (moto never fires a
//! schedule): each second, the due schedules of `FOLIO_SCHEDULE_GROUP`
//! send their message and are deleted.
//! Settings: `FOLIO_TABLE`, `FOLIO_QUEUE_URL`, `FOLIO_DLQ_URL`,
//! `FOLIO_DELIVERIES_QUEUE_URL`, `FOLIO_WEBHOOK_KEY`, `FOLIO_OUTBOUND_ALLOW`, `FOLIO_PUMP_CHECKPOINT` (a file keeping the stream
//! position across restarts) and the standard AWS variables.

use std::time::Duration;

use folio::events::deliver::Deliverer;
use folio::events::relay::Relay;
use folio::events::worker::Worker;
use folio_local::clock::SchedulerClock;
use folio_local::pump::{PumpError, StreamPump};
use folio_local::queue::{Consumer, QueuePump};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PumpError> {
    folio::init_tracing();
    let table = std::env::var("FOLIO_TABLE")?;
    let sdk = folio::aws::sdk_config().await?;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let relay = Relay::from_env().await?;
    let worker = Worker::from_env().await?;
    let mut stream = StreamPump::new(&sdk, &ddb, &table).await?;
    if let Ok(path) = std::env::var("FOLIO_PUMP_CHECKPOINT") {
        stream = stream.with_checkpoint(path)?;
    }
    let queue = QueuePump::new(
        aws_sdk_sqs::Client::new(&sdk),
        std::env::var("FOLIO_QUEUE_URL")?,
    )
    .await?;
    let deliverer = Deliverer::from_env().await?;
    let deliveries = QueuePump::new(
        aws_sdk_sqs::Client::new(&sdk),
        std::env::var("FOLIO_DELIVERIES_QUEUE_URL")?,
    )
    .await?;
    let clock = SchedulerClock::new(&sdk, &std::env::var("FOLIO_SCHEDULE_GROUP")?);
    tracing::info!(
        table,
        "relaying the table's stream, running the worker and the deliverer, firing schedules"
    );
    tokio::join!(
        relay_forever(stream, &relay),
        fire_forever(clock),
        consume_forever(&queue, &worker, "worker ran"),
        consume_forever(&deliveries, &deliverer, "deliverer ran"),
    );
    Ok(())
}

async fn relay_forever(mut stream: StreamPump, relay: &Relay) {
    loop {
        match stream.pump(relay).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, pending = stream.pending(), "relayed"),
            // DynamoDB Local restarting, say: try again on the next round.
            Err(e) => tracing::warn!(error = %e, "reading the stream failed"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn fire_forever(mut clock: SchedulerClock) {
    loop {
        match clock.tick(time::OffsetDateTime::now_utc()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(fired = n, "schedules fired"),
            Err(e) => tracing::warn!(error = %e, "reading the schedules failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn consume_forever(queue: &QueuePump, consumer: &impl Consumer, what: &str) {
    loop {
        match queue.pump(consumer, Duration::from_secs(5)).await {
            Ok(round) if round.received > 0 => {
                tracing::info!(received = round.received, failed = round.failed, "{what}")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "receiving from the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
