//! Leased secrets. An engine that creates a credential returns a [`LeaseSpec`]; the broker
//! persists it (the payload encrypted) and later hands it back as a [`LeasedSecret`] to the
//! engine's `renew` and `revoke`.

use std::time::Duration;

use time::OffsetDateTime;

/// What an engine asks the broker to lease.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
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
