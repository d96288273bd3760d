//! Leased secrets. An engine that creates a credential returns a [`LeaseSpec`]; the broker
//! persists it (the payload encrypted) and later hands it back as a [`LeasedSecret`] to the
//! engine's `renew` and `revoke`.

use std::time::Duration;

use time::OffsetDateTime;

/// What an engine asks the broker to lease.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
    /// The intent this lease completes, from [`LeaseIntents::begin`]. Engines that create
    /// anything outside the broker's own storage must begin an intent first (invariant 3);
    /// `None` makes the broker register a fresh lease.
    pub intent: Option<String>,
    /// The kind of secret within the engine (e.g. `creds`). Engines decode `payload` by it.
    pub kind: String,
    pub ttl: Duration,
    /// The longest the lease may live in total, counted from issue.
    pub max_ttl: Option<Duration>,
    pub renewable: bool,
    /// Everything the engine needs to renew or revoke the secret later. Stored encrypted.
    /// Engines serialize a typed struct per kind into it.
    pub payload: serde_json::Value,
}

/// A lease handed back to its engine.
#[derive(Debug, Clone)]
pub struct LeasedSecret {
    pub lease_id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub issue_time: OffsetDateTime,
    pub expire_time: OffsetDateTime,
}

impl LeasedSecret {
    /// Decodes the payload into the engine's typed form.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::EngineError> {
        serde_json::from_value(self.payload.clone()).map_err(|error| {
            crate::EngineError::Internal(format!(
                "lease payload of kind {:?} does not decode: {error}",
                self.kind
            ))
        })
    }
}

/// The result of a successful renewal.
#[derive(Debug, Clone)]
pub struct RenewOutcome {
    /// The new TTL from now, already capped by the engine's own limits.
    pub ttl: Duration,
    /// A replacement payload, when renewal changed what revocation needs.
    pub payload: Option<serde_json::Value>,
    pub warnings: Vec<String>,
}

/// The broker's crash-safety log for credentials an engine is about to create.
///
/// Architecture invariant 3: every credential is tracked by a persisted lease or revoked. An
/// engine calls [`LeaseIntents::begin`] *before* it touches the target system, with a payload
/// that is enough to revoke whatever it may create. The broker persists the intent as a
/// short-lived pending lease. If the engine's response carries the intent id in
/// [`LeaseSpec::intent`], the broker turns it into the real lease; if the request fails, the
/// client disconnects or the broker crashes, the pending lease expires and the engine's
/// `revoke` runs with the payload. `revoke` must therefore be idempotent and must succeed when
/// the credential was never created.
#[async_trait::async_trait]
pub trait LeaseIntents: Send + Sync + std::fmt::Debug {
    /// Persists an intent and returns the lease id it will carry (`<mount><path>/<random>`),
    /// so the engine can tag what it creates with it.
    async fn begin(
        &self,
        request_path: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<String, crate::EngineError>;
}
