//! Media ingest (docs/design.md §10): a URL in a `media` field is fetched
//! by the worker through the address guard (`outbound`), checked (size cap,
//! timeouts, type from the first bytes, never from the sender's
//! Content-Type), and stored content-addressed in the media bucket under
//! `<sha256>.<ext>`: the same file is stored once, whoever sends it. The
//! field is then rewritten to `FOLIO_MEDIA_BASE_URL/<sha256>.<ext>` by the
//! store (`store::media`), only while it still holds the source URL.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::outbound::{Guard, Outbound, OutboundError, Timeouts};
use crate::settings::{self, Env};

/// Redirects a download follows, each checked by the guard again.
pub const MAX_REDIRECTS: usize = 3;

/// A file type Folio stores, recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Avif,
    Pdf,
    Docx,
    Xlsx,
    Pptx,
}

impl Kind {
    pub fn ext(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpg",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Avif => "avif",
            Kind::Pdf => "pdf",
            Kind::Docx => "docx",
            Kind::Xlsx => "xlsx",
            Kind::Pptx => "pptx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Avif => "image/avif",
            Kind::Pdf => "application/pdf",
            Kind::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Kind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Kind::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
        }
    }
}

/// The type of `bytes` from their magic numbers; None for anything else
/// (SVG and HTML included: they can carry script).
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if starts(b"\xff\xd8\xff") {
        Some(Kind::Jpeg)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(Kind::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else if bytes.len() >= 12
        && &bytes[4..8] == b"ftyp"
        && matches!(&bytes[8..12], b"avif" | b"avis")
    {
        Some(Kind::Avif)
    } else if starts(b"%PDF-") {
        Some(Kind::Pdf)
    } else if starts(b"PK\x03\x04") {
        // Office Open XML: a zip whose entries name the document kind.
        let head = &bytes[..bytes.len().min(64 * 1024)];
        let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
        if has(b"word/") {
            Some(Kind::Docx)
        } else if has(b"xl/") {
            Some(Kind::Xlsx)
        } else if has(b"ppt/") {
            Some(Kind::Pptx)
        } else {
            None
        }
    } else {
        None
    }
}

/// Why a URL was not ingested: shown in the item's ingest status.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Fetch(#[from] OutboundError),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error(
        "not an image or document Folio stores (PNG, JPEG, GIF, WebP, AVIF, PDF, DOCX, XLSX, PPTX)"
    )]
    Type,
    #[error("storing the file failed")]
    Store(#[source] Error),
}

impl IngestError {
    /// Whether trying again later may succeed (the item's status says
    /// failed either way; a transient failure also fails the job so the
    /// queue retries it).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            IngestError::Store(_)
                | IngestError::Fetch(OutboundError::Timeout | OutboundError::Connect)
        ) || matches!(self, IngestError::Status(s) if *s >= 500 || *s == 429)
    }
}

/// Settings: `FOLIO_MEDIA_BUCKET`, `FOLIO_MEDIA_BASE_URL`,
/// `FOLIO_MEDIA_MAX_BYTES` (default 20 MB), `FOLIO_MEDIA_TIMEOUT_SECONDS`
/// (default 15, the whole download with its redirects; 3 to connect) and the guard's
/// `FOLIO_OUTBOUND_ALLOW`.
#[derive(Debug, Clone)]
pub struct Ingester {
    s3: aws_sdk_s3::Client,
    bucket: String,
    base_url: String,
    max_bytes: u64,
    outbound: Outbound,
    /// The whole download's deadline, redirects included.
    deadline: Duration,
    /// Downloads in flight in this instance, whatever the messages: at most
    /// `DOWNLOADS` files of `max_bytes` are held in memory at once.
    downloads: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Downloads one worker instance makes at once.
pub const DOWNLOADS: usize = 4;

impl Ingester {
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: String,
        base_url: String,
        max_bytes: u64,
        guard: Guard,
        timeouts: Timeouts,
    ) -> Result<Self, Error> {
        let outbound = Outbound::new(
            guard,
            timeouts,
            concat!("Folio-Media/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(Error::internal)?;
        Ok(Ingester {
            s3,
            bucket,
            base_url: base_url.trim_end_matches('/').to_owned(),
            max_bytes,
            outbound,
            deadline: timeouts.total,
            downloads: std::sync::Arc::new(tokio::sync::Semaphore::new(DOWNLOADS)),
        })
    }

    /// `FOLIO_MEDIA_BUCKET`, `FOLIO_MEDIA_BASE_URL`, `FOLIO_MEDIA_MAX_BYTES`,
    /// `FOLIO_MEDIA_TIMEOUT_SECONDS` (the whole download; 3 s to connect)
    /// and `FOLIO_OUTBOUND_ALLOW`.
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, Error> {
        Ingester::new(
            s3_client(sdk),
            env.required("FOLIO_MEDIA_BUCKET")?,
            env.required("FOLIO_MEDIA_BASE_URL")?,
            env.number("FOLIO_MEDIA_MAX_BYTES", settings::MEDIA_MAX_BYTES)?,
            Guard::from_env(env)?,
            Timeouts {
                connect: Duration::from_secs(3),
                total: env.seconds(
                    "FOLIO_MEDIA_TIMEOUT_SECONDS",
                    settings::MEDIA_TIMEOUT_SECONDS,
                )?,
            },
        )
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether `url` is already one of ours (nothing to ingest).
    pub fn is_library_url(&self, url: &str) -> bool {
        url.strip_prefix(&self.base_url)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Downloads `url`, checks it and stores it; the library URL. The
    /// download (redirects included) has `deadline` once it starts.
    pub async fn ingest(&self, url: &str) -> Result<String, IngestError> {
        let _permit = self
            .downloads
            .acquire()
            .await
            .map_err(|e| IngestError::Store(Error::internal(e)))?;
        let bytes = tokio::time::timeout(self.deadline, self.download(url))
            .await
            .map_err(|_| IngestError::Fetch(OutboundError::Timeout))??;
        let kind = sniff(&bytes).ok_or(IngestError::Type)?;
        let key = format!("{}.{}", hex::encode(Sha256::digest(&bytes)), kind.ext());
        self.store(&key, kind, bytes)
            .await
            .map_err(IngestError::Store)?;
        Ok(format!("{}/{key}", self.base_url))
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, IngestError> {
        let mut response = self.outbound.get(url, MAX_REDIRECTS).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(IngestError::Status(status));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(IngestError::TooLarge(self.max_bytes));
        }
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| IngestError::Fetch(OutboundError::Failed(e.without_url().to_string())))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(IngestError::TooLarge(self.max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Puts the object unless it is there already (same key, same bytes).
    async fn store(&self, key: &str, kind: Kind, bytes: Vec<u8>) -> Result<(), Error> {
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match head {
            Ok(_) => {
                tracing::info!(key, "media already stored; reused");
                return Ok(());
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
            Err(e) => {
                return Err(Error::internal(
                    aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                ))
            }
        }
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(kind.content_type())
            .cache_control("public, max-age=31536000, immutable")
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| Error::internal(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        tracing::info!(key, "media stored");
        Ok(())
    }
}

/// An S3 client; path-style addressing when an endpoint override (moto)
/// is set, as local S3 stand-ins need.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let local = std::env::var("AWS_ENDPOINT_URL_S3").is_ok();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(local)
            .build(),
    )
}

/// Creates the media bucket when missing (the admin CLI and tests; the
/// template declares it).
pub async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), Error> {
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::internal(
            aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

/// Lets anyone read the bucket's files: for the local S3 stand-in only,
/// so that `make dev`'s library URLs open in a browser. On AWS the bucket
/// stays private and CloudFront serves it (`template.yaml`).
pub async fn allow_public_read_locally(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), Error> {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|e| Error::internal(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_first_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Kind::Png));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some(Kind::Jpeg));
        assert_eq!(sniff(b"GIF89a..."), Some(Kind::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::Webp));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), Some(Kind::Avif));
        assert_eq!(sniff(b"%PDF-1.7"), Some(Kind::Pdf));
        assert_eq!(sniff(b"PK\x03\x04....word/document.xml"), Some(Kind::Docx));
        assert_eq!(sniff(b"PK\x03\x04....xl/workbook.xml"), Some(Kind::Xlsx));
        assert_eq!(sniff(b"PK\x03\x04....evil.exe"), None, "any other zip");
        assert_eq!(sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff(b"<!doctype html>"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(Kind::Jpeg.ext(), "jpg");
    }
}
