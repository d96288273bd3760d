//! `verify`: tells a service whether a presented key is live, and what it grants.
//!
//! Every failure is the same 200 `{valid: false}` (services branch on a field, and nothing
//! distinguishes a typo from a revoked key). The path for a well-formed key is one storage
//! read and one HMAC whether or not the key id exists: an unknown id is compared against a
//! dummy digest, and the comparison is constant-time. The broker's read cache answers that
//! read from memory for a record read recently, so a recently verified key id answers a
//! little faster than one never seen: that can tell a prober an id exists, never anything
//! about a secret, and ids are not secret (operators list them under `roles/:name/keys`). A denied caller (`allowed_verifiers`)
//! gets 403, but only for a key that is otherwise valid; for anything else it learns
//! `valid: false` like everyone.

use std::fmt;

use lessor_sdk::{ClientInfo, EngineContext, Request, Response};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::creds::format_time;
use crate::error::ApiKeyError;
use crate::key;
use crate::mount_secret::{Digest, MountSecrets};
use crate::record::{self, KeyRecord};

/// Compared against when the key id is unknown, so that case costs what a wrong key costs.
const DUMMY_DIGEST: Digest = [0u8; 32];

/// The policy that may verify keys of any role, as in Vault.
const ROOT_POLICY: &str = "root";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    key: PresentedKey,
}

/// A key as a client sent it: wiped from memory on drop, never printed.
struct PresentedKey(Zeroizing<String>);

impl<'de> Deserialize<'de> for PresentedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|key| Self(Zeroizing::new(key)))
    }
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedKey(<redacted>)")
    }
}

pub(crate) async fn verify(
    secrets: &MountSecrets,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, ApiKeyError> {
    let body: VerifyRequest = request
        .decode()
        .map_err(|error| ApiKeyError::Invalid(error.to_string()))?;
    let Some(presented) = key::parse(&body.key.0) else {
        tracing::debug!("API key rejected: malformed or bad checksum");
        return invalid();
    };
    let hmac_key = secrets.get(ctx).await?;
    let stored = record::load(ctx, presented.key_id).await?;
    let digest = hmac_key.digest(presented.secret)?;
    let (expected, known) = match &stored {
        Some(stored) => (stored.hmac.0, Choice::from(1)),
        None => (DUMMY_DIGEST, Choice::from(0)),
    };
    let matches: bool = (digest.ct_eq(&expected) & known).into();
    let stored = match stored {
        Some(stored) if matches => stored,
        _ => {
            tracing::debug!(
                key_id = presented.key_id,
                "API key rejected: unknown or wrong"
            );
            return invalid();
        }
    };
    let now = ctx.clock.now();
    if stored.prefix != presented.prefix || stored.expire_time <= now {
        tracing::debug!(
            key_id = presented.key_id,
            "API key rejected: expired or wrong prefix"
        );
        return invalid();
    }
    if !may_verify(request.client.as_ref(), &stored) {
        tracing::warn!(
            key_id = presented.key_id,
            role = stored.role,
            "API key verification denied: caller holds none of the role's allowed_verifiers"
        );
        return Err(ApiKeyError::Denied);
    }
    let ttl = (stored.expire_time - now).whole_seconds().max(0);
    Response::from_serialize(&json!({
        "valid": true,
        "key_id": presented.key_id,
        "role": stored.role,
        "scopes": stored.scopes,
        "metadata": stored.metadata,
        "expire_time": format_time(stored.expire_time)?,
        "ttl": ttl,
        "lease_id": stored.lease_id,
    }))
    .map_err(|error| ApiKeyError::Internal(error.to_string()))
}

fn invalid() -> Result<Response, ApiKeyError> {
    Response::from_serialize(&json!({ "valid": false }))
        .map_err(|error| ApiKeyError::Internal(error.to_string()))
}

/// No restriction, or the caller holds one of the allowed policies (or root).
fn may_verify(client: Option<&ClientInfo>, stored: &KeyRecord) -> bool {
    if stored.allowed_verifiers.is_empty() {
        return true;
    }
    client.is_some_and(|client| {
        client.policies.iter().any(|policy| {
            policy == ROOT_POLICY
                || stored
                    .allowed_verifiers
                    .iter()
                    .any(|allowed| allowed == policy)
        })
    })
}
