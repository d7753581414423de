//! Webhook signing secrets: generated here, stored sealed. Signing needs
//! the secret itself (a hash would not do), so it is encrypted with
//! XChaCha20-Poly1305 under `FOLIO_WEBHOOK_KEY` (32 random bytes, base64;
//! the template takes it as a `NoEcho` parameter), bound to its
//! organization and endpoint (associated data), so a sealed secret copied
//! to another endpoint's record does not open. Neither the key nor a
//! secret has a `Debug` or `Display` that shows it.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::Error;

/// Prefix of a sealed secret: the format and key generation, so the key
/// can be rotated later without guessing.
const SEALED_PREFIX: &str = "v1:";

/// The key that seals webhook secrets.
#[derive(Clone)]
pub struct SecretKey(XChaCha20Poly1305);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// From 32 bytes in base64.
    pub fn parse(b64: &str) -> Result<Self, String> {
        let bytes = B64
            .decode(b64.trim())
            .map_err(|_| "the webhook key is not base64".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!(
                "the webhook key must be 32 bytes, not {}",
                bytes.len()
            ));
        }
        Ok(SecretKey(XChaCha20Poly1305::new(bytes.as_slice().into())))
    }

    /// `FOLIO_WEBHOOK_KEY`.
    pub fn from_env(env: &crate::settings::Env) -> Result<Self, Error> {
        let raw = env.required("FOLIO_WEBHOOK_KEY")?;
        SecretKey::parse(&raw).map_err(|e| Error::internal(format!("FOLIO_WEBHOOK_KEY: {e}")))
    }

    /// A new key, base64 (for `folio-admin` and `make dev`).
    pub fn generate_b64() -> String {
        B64.encode(random::<32>())
    }

    /// Seals `secret`, bound to `context` (the endpoint it belongs to).
    pub fn seal(&self, secret: &Secret, context: &str) -> String {
        let nonce = random::<24>();
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.0.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption into memory does not fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    /// Opens what `seal` made for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret, Error> {
        let broken = || Error::internal("a stored webhook secret does not open with this key");
        let raw = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(broken)?;
        let bytes = B64.decode(raw).map_err(|_| broken())?;
        if bytes.len() < 24 {
            return Err(broken());
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| broken())?;
        String::from_utf8(plain).map(Secret).map_err(|_| broken())
    }
}

/// A signing secret, `whsec_` + base64 of 32 random bytes (the Standard
/// Webhooks form).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn generate() -> Self {
        Secret(format!("whsec_{}", B64.encode(random::<32>())))
    }

    /// The secret itself: only for signing and for the one response that
    /// shows it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random source");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_its_endpoint() {
        let key = SecretKey::parse(&SecretKey::generate_b64()).unwrap();
        let other = SecretKey::parse(&SecretKey::generate_b64()).unwrap();
        let secret = Secret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        let sealed = key.seal(&secret, "acme#hook");
        assert!(!sealed.contains(secret.expose()));
        assert!(!sealed.contains(&secret.expose()["whsec_".len()..]));
        assert_eq!(key.open(&sealed, "acme#hook").unwrap(), secret);
        assert!(
            key.open(&sealed, "acme#other").is_err(),
            "bound to its endpoint"
        );
        assert!(
            other.open(&sealed, "acme#hook").is_err(),
            "bound to its key"
        );
        assert!(key.open("v1:AAAA", "acme#hook").is_err());
        assert_ne!(
            key.seal(&secret, "acme#hook"),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn keys_and_secrets_do_not_print() {
        let key = SecretKey::parse(&SecretKey::generate_b64()).unwrap();
        let secret = Secret::generate();
        assert_eq!(format!("{key:?} {secret:?}"), "SecretKey(…) Secret(…)");
        assert!(SecretKey::parse("c2hvcnQ=").is_err());
        assert!(SecretKey::parse("not base64!").is_err());
    }
}
