//! The issuer's JWKS for local mode: fetched on first use, cached, refreshed when a token
//! names a `kid` we do not know (the issuer rotated its key) or when the copy is an hour old.
//!
//! Fetches are rate-bounded: at most one per [`MIN_REFETCH_INTERVAL`], failed or not, so a
//! flood of tokens with made-up `kid`s cannot turn Lessor into a load generator against the
//! issuer. Concurrent logins that miss at once share one fetch.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use time::OffsetDateTime;

use crate::error::KubeAuthError;
use crate::keys::{VerifyKey, parse_certificates};

/// The least time between two fetches.
pub(crate) const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// A cached set older than this is refreshed on the next login (keeping the old set if the
/// refresh fails), so keys the issuer retired stop working within about this long.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// A JWKS is a few kilobytes; anything far bigger is not one.
const MAX_BODY_BYTES: usize = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Jwks {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Arc<Vec<VerifyKey>>>,
    /// When the last fetch was attempted; held across the fetch so concurrent misses wait
    /// for it instead of fetching again.
    last_fetch: tokio::sync::Mutex<Option<OffsetDateTime>>,
    fetched_at: RwLock<Option<OffsetDateTime>>,
}

impl Jwks {
    /// `ca_pem`, when set, is the only trust anchor for the JWKS endpoint; otherwise the
    /// platform's roots are used.
    pub(crate) fn new(url: &str, ca_pem: &str) -> Result<Self, KubeAuthError> {
        let mut builder = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if !ca_pem.trim().is_empty() {
            parse_certificates(ca_pem)
                .map_err(|error| KubeAuthError::invalid(format!("jwks_ca_cert: {error}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
                .map_err(|_| KubeAuthError::invalid("jwks_ca_cert is not a PEM bundle"))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|error| KubeAuthError::Internal(format!("JWKS client: {error}")))?;
        Ok(Self {
            url: url.to_string(),
            http,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_fetch: tokio::sync::Mutex::new(None),
            fetched_at: RwLock::new(None),
        })
    }

    /// The keys to try for a token naming `kid`: the cached set, refreshed first when it is
    /// empty, old, or lacks `kid` and the rate bound allows a fetch.
    pub(crate) async fn keys(
        &self,
        kid: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Arc<Vec<VerifyKey>>, KubeAuthError> {
        let current = self.snapshot();
        if self.usable(&current, kid, now) {
            return Ok(current);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another login may have fetched while we waited for the lock.
        let current = self.snapshot();
        if self.usable(&current, kid, now) {
            return Ok(current);
        }
        if last_fetch.is_some_and(|at| now < at + MIN_REFETCH_INTERVAL) {
            if current.is_empty() {
                // Not a verdict on the token: we have nothing to judge it with yet.
                return Err(KubeAuthError::upstream(format!(
                    "no keys from the JWKS at {} yet; the last fetch failed, retrying after 10s",
                    self.url
                )));
            }
            tracing::debug!(url = %self.url, "JWKS refetch skipped: fetched less than 10s ago");
            return Ok(current);
        }
        *last_fetch = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&keys);
                *self.fetched_at.write().unwrap_or_else(|p| p.into_inner()) = Some(now);
                Ok(keys)
            }
            // A stale but non-empty set still verifies tokens whose key it holds.
            Err(error) if !current.is_empty() => {
                tracing::warn!(url = %self.url, %error, "JWKS refresh failed; keeping the cached keys");
                Ok(current)
            }
            Err(error) => Err(error),
        }
    }

    fn snapshot(&self) -> Arc<Vec<VerifyKey>> {
        Arc::clone(&self.keys.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn usable(&self, keys: &[VerifyKey], kid: Option<&str>, now: OffsetDateTime) -> bool {
        let fresh = self
            .fetched_at
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| now < at + MAX_AGE);
        let known = match kid {
            Some(kid) => keys.iter().any(|key| key.kid.as_deref() == Some(kid)),
            None => !keys.is_empty(),
        };
        fresh && known
    }

    async fn fetch(&self) -> Result<Vec<VerifyKey>, KubeAuthError> {
        let unreachable = |error: reqwest::Error| {
            KubeAuthError::upstream(format!("JWKS fetch from {} failed: {error}", self.url))
        };
        let mut response = self.http.get(&self.url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(KubeAuthError::upstream(format!(
                "JWKS endpoint {} answered {}",
                self.url,
                response.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY_BYTES {
                return Err(KubeAuthError::upstream(format!(
                    "JWKS from {} is larger than 1 MiB",
                    self.url
                )));
            }
        }
        let keys = parse_jwks(&body)
            .map_err(|error| KubeAuthError::upstream(format!("JWKS from {}: {error}", self.url)))?;
        tracing::info!(url = %self.url, keys = keys.len(), "fetched JWKS");
        Ok(keys)
    }
}

/// The usable keys of a JWKS document; entries that are not signature keys we accept are
/// skipped (and logged), so one odd entry does not take the whole set down.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyKey>, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|_| "the document is not a JWKS".to_string())?;
    let mut keys = Vec::new();
    for entry in document.keys {
        let kid = entry
            .get("kid")
            .and_then(|kid| kid.as_str())
            .unwrap_or("")
            .to_string();
        let parsed = serde_json::from_value::<Jwk>(entry)
            .map_err(|error| format!("malformed key: {error}"))
            .and_then(|jwk| VerifyKey::from_jwk(&jwk));
        match parsed {
            Ok(key) => keys.push(key),
            Err(reason) => tracing::warn!(kid, reason, "skipping JWKS entry"),
        }
    }
    if keys.is_empty() {
        return Err("no usable signature key in the set".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_symmetric_keys_means_no_keys() {
        let body = br#"{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}"#;
        assert!(parse_jwks(body).is_err());
        assert!(parse_jwks(b"not json").is_err());
    }
}
