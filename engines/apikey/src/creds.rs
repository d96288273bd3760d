//! `creds/:role` and the lifecycle of what it creates: issuing a key under a lease,
//! renewing it (moving the record's expiry), revoking it (deleting the record), and the
//! operator's read-only views of issued keys (`keys/:key_id`, `roles/:name/keys`).
//!
//! Crash safety (architecture invariant 3): the lease intent is begun, with the key id,
//! *before* the record is stored. If the request fails, the client goes away or the broker
//! dies, the broker later calls [`revoke`] with that payload; revoking a key whose record
//! was never stored is success.

use std::collections::BTreeMap;
use std::time::Duration;

use lessor_sdk::{EngineContext, LeaseSpec, LeasedSecret, RenewOutcome, Request, Response, Ttl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiKeyError;
use crate::fields::{self, check_role_name};
use crate::key::{self, IssuedKey};
use crate::mount_secret::MountSecrets;
use crate::record::{self, KeyRecord, StoredDigest};
use crate::role;

/// The lease kind of everything this engine issues.
pub(crate) const KIND: &str = "key";

/// Fresh ids that may be tried before giving up; a collision of 95-bit ids means the
/// random source is broken, not bad luck.
const ID_ATTEMPTS: usize = 3;

/// What renewal and revocation need, stored encrypted with the lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyLease {
    pub key_id: String,
    pub role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredsRequest {
    ttl: Option<Ttl>,
    #[serde(default, deserialize_with = "fields::string_map")]
    metadata: Option<BTreeMap<String, String>>,
}

pub(crate) fn format_time(at: OffsetDateTime) -> Result<String, ApiKeyError> {
    at.format(&Rfc3339)
        .map_err(|error| ApiKeyError::Internal(format!("time does not format: {error}")))
}

fn remaining(until: OffsetDateTime, now: OffsetDateTime) -> Duration {
    (until - now).try_into().unwrap_or(Duration::ZERO)
}

pub(crate) async fn issue(
    secrets: &MountSecrets,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, ApiKeyError> {
    let role_name = request.params.get("role");
    check_role_name(role_name).map_err(ApiKeyError::Invalid)?;
    let body: CredsRequest = request
        .decode()
        .map_err(|error| ApiKeyError::Invalid(error.to_string()))?;
    let role = role::load(ctx, role_name)
        .await?
        .ok_or_else(|| ApiKeyError::invalid(format!("unknown role: {role_name}")))?;

    // The role's metadata is the operator's word; a requester may add keys, not override.
    let mut metadata = role.metadata.clone();
    for (name, value) in body.metadata.unwrap_or_default() {
        if metadata.contains_key(&name) {
            return Err(ApiKeyError::invalid(format!(
                "metadata: {name:?} is set by the role and cannot be overridden"
            )));
        }
        metadata.insert(name, value);
    }
    fields::check_metadata(&metadata).map_err(ApiKeyError::Invalid)?;

    let mut warnings = Vec::new();
    let max_ttl = role.max_ttl(ctx);
    let ttl = match body.ttl.filter(|ttl| !ttl.is_zero()) {
        Some(asked) if asked.0 > max_ttl => {
            warnings.push(format!(
                "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
                asked.as_secs(),
                max_ttl.as_secs()
            ));
            max_ttl
        }
        Some(asked) => asked.0,
        None => role.default_ttl(ctx).min(max_ttl),
    };

    let hmac_key = secrets.get(ctx).await?;
    let issued = mint_unused(ctx, &role.prefix, role.bytes).await?;
    let key_id = issued.key_id().to_string();
    let lease = KeyLease {
        key_id: key_id.clone(),
        role: role_name.to_string(),
    };
    let payload = serde_json::to_value(&lease)
        .map_err(|error| ApiKeyError::Internal(format!("lease payload: {error}")))?;
    // Invariant 3: the intent is durable before the key record exists.
    let lease_id = ctx
        .leases
        .begin(&request.path, KIND, payload.clone())
        .await
        .map_err(|error| ApiKeyError::Internal(format!("beginning the lease intent: {error}")))?;

    let now = ctx.clock.now();
    let expire_time = now + ttl;
    let stored = KeyRecord {
        role: role_name.to_string(),
        prefix: role.prefix.clone(),
        hmac: StoredDigest(hmac_key.digest(issued.secret())?),
        scopes: role.scopes.clone(),
        metadata,
        allowed_verifiers: role.allowed_verifiers.clone(),
        lease_id: lease_id.clone(),
        issue_time: now,
        expire_time,
    };
    record::store(ctx, &key_id, &stored).await?;
    tracing::info!(role = role_name, key_id, lease_id, "issued API key");

    let mut response = Response::from_serialize(&json!({
        "key": issued.expose(),
        "key_id": key_id,
        "role": role_name,
        "scopes": stored.scopes,
        "expire_time": format_time(expire_time)?,
    }))
    .map_err(|error| ApiKeyError::Internal(error.to_string()))?;
    response.warnings = warnings;
    response.secret = Some(LeaseSpec {
        intent: Some(lease_id),
        kind: KIND.to_string(),
        ttl,
        max_ttl: (!role.max_ttl.is_zero()).then_some(role.max_ttl.0),
        renewable: true,
        payload,
    });
    Ok(response)
}

/// A new key whose id is not taken yet in this mount.
async fn mint_unused(
    ctx: &EngineContext,
    prefix: &str,
    bytes: usize,
) -> Result<IssuedKey, ApiKeyError> {
    for _ in 0..ID_ATTEMPTS {
        let issued = IssuedKey::mint(prefix, bytes);
        if !record::exists(ctx, issued.key_id()).await? {
            return Ok(issued);
        }
    }
    Err(ApiKeyError::Internal(
        "could not draw an unused key id; is the random source broken?".into(),
    ))
}

/// Extends a key by `increment` (else the role's default TTL), capped by the role's and the
/// mount's max TTL counted from issue.
pub(crate) async fn renew(
    ctx: &EngineContext,
    secret: &LeasedSecret,
    increment: Option<Duration>,
) -> Result<RenewOutcome, ApiKeyError> {
    let lease = decode_lease(secret)?;
    let mut stored = record::load(ctx, &lease.key_id).await?.ok_or_else(|| {
        ApiKeyError::invalid("the key no longer exists; the lease cannot be renewed")
    })?;
    let role = role::load(ctx, &stored.role).await?.ok_or_else(|| {
        ApiKeyError::invalid(format!(
            "role {:?} no longer exists; the lease cannot be renewed",
            stored.role
        ))
    })?;
    let now = ctx.clock.now();
    if stored.expire_time <= now {
        return Err(ApiKeyError::invalid("the key has expired"));
    }
    let wanted = increment
        .filter(|increment| !increment.is_zero())
        .unwrap_or_else(|| role.default_ttl(ctx));
    let limit = role.max_ttl(ctx);
    // The lease's issue time (the intent's) is the earlier one; count from it, as the
    // broker does, so the key never outlives its lease's cap.
    let issued = secret.issue_time.min(stored.issue_time);
    let room = remaining(issued + limit, now);
    let mut warnings = Vec::new();
    let ttl = if wanted > room {
        warnings.push(format!(
            "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
            wanted.as_secs(),
            limit.as_secs()
        ));
        room
    } else {
        wanted
    };
    stored.expire_time = now + ttl;
    record::update(ctx, &lease.key_id, &stored).await?;
    tracing::info!(
        key_id = lease.key_id,
        ttl = ttl.as_secs(),
        "renewed API key"
    );
    Ok(RenewOutcome {
        ttl,
        payload: None,
        warnings,
    })
}

/// Deletes the key's record, so `verify` fails from now on. Idempotent: a key that is gone
/// or was never stored is revoked.
pub(crate) async fn revoke(ctx: &EngineContext, secret: &LeasedSecret) -> Result<(), ApiKeyError> {
    let lease = decode_lease(secret)?;
    record::delete(ctx, &lease.key_id, &lease.role).await?;
    tracing::info!(key_id = lease.key_id, role = lease.role, "revoked API key");
    Ok(())
}

fn decode_lease(secret: &LeasedSecret) -> Result<KeyLease, ApiKeyError> {
    let lease: KeyLease = secret
        .decode()
        .map_err(|error| ApiKeyError::Internal(error.to_string()))?;
    // Both become storage path segments.
    if !key::valid_key_id(&lease.key_id) || check_role_name(&lease.role).is_err() {
        return Err(ApiKeyError::Internal(
            "lease payload names an invalid key id or role".into(),
        ));
    }
    Ok(lease)
}

/// `keys/:key_id`: an issued key's metadata, for operators. Never the key or its HMAC.
pub(crate) async fn read_key(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, ApiKeyError> {
    let key_id = request.params.get("key_id");
    if !key::valid_key_id(key_id) {
        return Err(ApiKeyError::invalid(format!(
            "key ids are {} base62 characters",
            key::KEY_ID_LEN
        )));
    }
    let stored = record::load(ctx, key_id)
        .await?
        .ok_or(ApiKeyError::NotFound)?;
    Response::from_serialize(&json!({
        "key_id": key_id,
        "role": stored.role,
        "prefix": stored.prefix,
        "scopes": stored.scopes,
        "metadata": stored.metadata,
        "allowed_verifiers": stored.allowed_verifiers,
        "lease_id": stored.lease_id,
        "issue_time": format_time(stored.issue_time)?,
        "expire_time": format_time(stored.expire_time)?,
        "expired": stored.expire_time <= ctx.clock.now(),
    }))
    .map_err(|error| ApiKeyError::Internal(error.to_string()))
}

/// `roles/:name/keys`: the ids of the role's outstanding keys.
pub(crate) async fn list_keys(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, ApiKeyError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(ApiKeyError::Invalid)?;
    Ok(Response::list(
        ctx.storage.list(&record::role_index_prefix(name)).await?,
    ))
}
