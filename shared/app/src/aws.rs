//! The AWS SDK's set-up, once per binary: its HTTPS client (rustls,
//! compiled-in roots, built on first use) and the bounds on every call.
//! Endpoints come from the standard `AWS_ENDPOINT_URL_*` variables, so
//! nothing here knows whether it runs against AWS or the local stand-ins.

use std::time::Duration;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

use crate::error::Error;
use crate::settings::{self, Env};

/// Bounds on every AWS call: a dead endpoint fails fast, a hanging one
/// cannot hold a request past the function's 10 s timeout (the SDK retries
/// an attempt that timed out, within the operation's bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Default for Timeouts {
    /// What AWS needs: DynamoDB and SQS answer in milliseconds there.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs_f64(settings::AWS_ATTEMPT_TIMEOUT_SECONDS),
            operation: Duration::from_secs_f64(settings::AWS_OPERATION_TIMEOUT_SECONDS),
        }
    }
}

impl Timeouts {
    /// The defaults, or `FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS` and
    /// `FOLIO_AWS_OPERATION_TIMEOUT_SECONDS` when set: the local stand-ins
    /// answer far slower than AWS under load (DynamoDB Local queues
    /// concurrent transactions on one item instead of refusing them).
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Ok(Timeouts {
            connect: Duration::from_secs(2),
            attempt: env.seconds(
                "FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS",
                settings::AWS_ATTEMPT_TIMEOUT_SECONDS,
            )?,
            operation: env.seconds(
                "FOLIO_AWS_OPERATION_TIMEOUT_SECONDS",
                settings::AWS_OPERATION_TIMEOUT_SECONDS,
            )?,
        })
    }
}

/// The SDK configuration every binary uses: rustls with ring (no OpenSSL,
/// no C toolchain for cross builds), Mozilla's root certificates compiled
/// in, endpoints from the environment, and `Timeouts::from_env`. A
/// malformed timeout stops the start.
pub async fn sdk_config() -> Result<SdkConfig, Error> {
    Ok(sdk_config_with(Timeouts::from_env(&Env::process())?).await)
}

/// The roots the SDK's TLS trusts: Mozilla's, compiled in
/// (`webpki-root-certs`, which AWS's Amazon Root CAs are part of). The
/// SDK's default reads the system store (`/etc/ssl/certs`: a bundle and
/// ~150 files) while a function starts, which was most of the time a
/// function took to start beyond a bare runtime (`make bench`, cold start).
fn compiled_roots() -> aws_smithy_http_client::tls::TrustStore {
    use base64::Engine;
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    aws_smithy_http_client::tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem.into_bytes())
}

/// The SDK's HTTPS client, with the compiled-in roots.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let mut http = aws_smithy_http_client::Builder::new().tls_provider(
        aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ),
    );
    match aws_smithy_http_client::tls::TlsContext::builder()
        .with_trust_store(compiled_roots())
        .build()
    {
        Ok(tls) => http = http.tls_context(tls),
        // Not expected; the SDK's default roots then serve.
        Err(e) => tracing::warn!(error = %e, "compiled-in TLS roots not usable"),
    }
    http.build_https()
}

/// The HTTPS client built on first use. The SDK's own client builds a
/// connector (and its root store) each time a client is configured, to
/// fail early, which at a function's start is work its first request
/// does not need: the credentials chain's STS client and the DynamoDB
/// client each paid for one.
#[derive(Debug, Default)]
struct LazyHttps(std::sync::OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient>);

impl aws_smithy_runtime_api::client::http::HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0
            .get_or_init(https_client)
            .http_connector(settings, components)
    }
}

pub async fn sdk_config_with(t: Timeouts) -> SdkConfig {
    let http = aws_smithy_runtime_api::client::http::SharedHttpClient::new(LazyHttps::default());
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(t.connect)
        .operation_attempt_timeout(t.attempt)
        .operation_timeout(t.operation)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}
