//! `folio-receiver [PORT]`: a webhook receiver on 127.0.0.1 (default port
//! 4000) that answers 200 and logs every delivery with whether its
//! signature verifies against `FOLIO_WEBHOOK_SECRET` (the `whsec_…` shown
//! when the webhook was created). For trying webhooks with `make dev`.

use folio_local::receiver::{always, Receiver};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber_init();
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|_| format!("not a port: {p}"))?,
        None => 4000,
    };
    let receiver = Receiver::bind(([127, 0, 0, 1], port).into(), always(200)).await?;
    match std::env::var("FOLIO_WEBHOOK_SECRET") {
        Ok(secret) => receiver.verify_with(&secret),
        Err(_) => eprintln!("FOLIO_WEBHOOK_SECRET is not set: signatures are not checked"),
    }
    eprintln!("receiving webhooks on {} (Ctrl-C stops)", receiver.url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}

fn tracing_subscriber_init() {
    folio::init_tracing();
}
