//! `folio-pump`: reads the table's stream from DynamoDB Local and relays
//! it to the events queue, as the stream trigger does on AWS (`make dev`
//! runs it). Settings: `FOLIO_TABLE`, `FOLIO_QUEUE_URL`, `FOLIO_DLQ_URL`
//! and the standard AWS variables.

use std::time::Duration;

use folio::events::relay::Relay;
use folio_local::pump::StreamPump;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), folio_local::pump::PumpError> {
    folio::init_tracing();
    let table = std::env::var("FOLIO_TABLE")?;
    let sdk = folio::app::sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let relay = Relay::from_env().await?;
    let mut pump = StreamPump::new(&sdk, &ddb, &table).await?;
    tracing::info!(table, "relaying the table's stream");
    loop {
        match pump.pump(&relay).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, pending = pump.pending(), "relayed"),
            // DynamoDB Local restarting, say: try again on the next round.
            Err(e) => tracing::warn!(error = %e, "reading the stream failed"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
