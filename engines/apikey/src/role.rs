//! `roles/:name`: what a key of the role looks like (prefix, entropy), how long it lives,
//! what it grants (scopes, metadata) and who may verify it. Storage key: `roles/<name>`.

use std::collections::BTreeMap;
use std::time::Duration;

use lessor_sdk::{EngineContext, MountStorageExt, Operation, Request, Response, Ttl};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ApiKeyError;
use crate::fields::{self, check_role_name};
use crate::key;

pub(crate) const MIN_BYTES: usize = 32;
pub(crate) const MAX_BYTES: usize = 64;
const DEFAULT_PREFIX: &str = "lsk_";

/// A stored role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub prefix: String,
    /// Entropy of a key's secret part, in bytes.
    pub bytes: usize,
    pub default_ttl: Ttl,
    pub max_ttl: Ttl,
    pub scopes: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// Policies of which a verifying token must hold one; empty means any token the ACL
    /// lets through to `verify`.
    pub allowed_verifiers: Vec<String>,
}

impl Default for Role {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.into(),
            bytes: MIN_BYTES,
            default_ttl: Ttl::ZERO,
            max_ttl: Ttl::ZERO,
            scopes: Vec::new(),
            metadata: BTreeMap::new(),
            allowed_verifiers: Vec::new(),
        }
    }
}

impl Role {
    /// The longest a key may live in total, counted from issue: the role's max (else the
    /// mount's), never beyond the mount's.
    pub(crate) fn max_ttl(&self, ctx: &EngineContext) -> Duration {
        if self.max_ttl.is_zero() {
            ctx.max_lease_ttl
        } else {
            self.max_ttl.0.min(ctx.max_lease_ttl)
        }
    }

    /// The TTL a key gets when nobody asks for one: the role's default, else the mount's.
    pub(crate) fn default_ttl(&self, ctx: &EngineContext) -> Duration {
        if self.default_ttl.is_zero() {
            ctx.default_lease_ttl
        } else {
            self.default_ttl.0
        }
    }

    fn validate(&self) -> Result<(), ApiKeyError> {
        if !key::valid_prefix(&self.prefix) {
            return Err(ApiKeyError::invalid(
                "prefix: use at most 32 characters of [a-z0-9_]",
            ));
        }
        if !(MIN_BYTES..=MAX_BYTES).contains(&self.bytes) {
            return Err(ApiKeyError::invalid(format!(
                "bytes: must be between {MIN_BYTES} and {MAX_BYTES}"
            )));
        }
        if !self.max_ttl.is_zero() && self.default_ttl > self.max_ttl {
            return Err(ApiKeyError::invalid(
                "default_ttl cannot be greater than max_ttl",
            ));
        }
        fields::check_names("scopes", &self.scopes).map_err(ApiKeyError::Invalid)?;
        fields::check_names("allowed_verifiers", &self.allowed_verifiers)
            .map_err(ApiKeyError::Invalid)?;
        fields::check_metadata(&self.metadata).map_err(ApiKeyError::Invalid)
    }
}

pub(crate) fn storage_key(name: &str) -> String {
    format!("roles/{name}")
}

pub(crate) async fn load(ctx: &EngineContext, name: &str) -> Result<Option<Role>, ApiKeyError> {
    Ok(ctx.storage.get_json(&storage_key(name)).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    name: Option<String>,
    prefix: Option<String>,
    #[serde(default, deserialize_with = "fields::number")]
    bytes: Option<usize>,
    default_ttl: Option<Ttl>,
    max_ttl: Option<Ttl>,
    #[serde(default, deserialize_with = "fields::list")]
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "fields::string_map")]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "fields::list")]
    allowed_verifiers: Option<Vec<String>>,
}

pub(crate) async fn read(ctx: &EngineContext, request: &Request) -> Result<Response, ApiKeyError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(ApiKeyError::Invalid)?;
    let role = load(ctx, name).await?.ok_or(ApiKeyError::NotFound)?;
    Response::from_serialize(&json!({
        "prefix": role.prefix,
        "bytes": role.bytes,
        "default_ttl": role.default_ttl.as_secs(),
        "max_ttl": role.max_ttl.as_secs(),
        "scopes": role.scopes,
        "metadata": role.metadata,
        "allowed_verifiers": role.allowed_verifiers,
    }))
    .map_err(|error| ApiKeyError::Internal(error.to_string()))
}

pub(crate) async fn list(ctx: &EngineContext) -> Result<Response, ApiKeyError> {
    Ok(Response::list(ctx.storage.list("roles/").await?))
}

/// Creates a role, or updates the fields given (the others keep their values).
pub(crate) async fn write(ctx: &EngineContext, request: &Request) -> Result<Response, ApiKeyError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(ApiKeyError::Invalid)?;
    let body: RoleRequest = request
        .decode()
        .map_err(|error| ApiKeyError::Invalid(error.to_string()))?;
    if body.name.as_deref().is_some_and(|given| given != name) {
        return Err(ApiKeyError::invalid(
            "name in the body differs from the path",
        ));
    }
    let mut role = match load(ctx, name).await? {
        Some(role) if request.operation != Operation::Create => role,
        _ => Role::default(),
    };
    if let Some(prefix) = body.prefix {
        role.prefix = prefix;
    }
    if let Some(bytes) = body.bytes {
        role.bytes = bytes;
    }
    if let Some(ttl) = body.default_ttl {
        role.default_ttl = ttl;
    }
    if let Some(ttl) = body.max_ttl {
        role.max_ttl = ttl;
    }
    if let Some(scopes) = body.scopes {
        role.scopes = scopes;
    }
    if let Some(metadata) = body.metadata {
        role.metadata = metadata;
    }
    if let Some(verifiers) = body.allowed_verifiers {
        role.allowed_verifiers = verifiers;
    }
    role.validate()?;
    ctx.storage.put_json(&storage_key(name), &role).await?;
    tracing::info!(role = name, "wrote API key role");

    let mut response = Response::no_content();
    if !role.max_ttl.is_zero() && role.max_ttl.0 > ctx.max_lease_ttl {
        response = response.warn(format!(
            "max_ttl is greater than the mount's max lease TTL of {}s; keys are capped by it",
            ctx.max_lease_ttl.as_secs()
        ));
    }
    Ok(response)
}

/// Deletes a role. Keys already issued stay valid until their leases end.
pub(crate) async fn delete(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, ApiKeyError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(ApiKeyError::Invalid)?;
    ctx.storage.delete(&storage_key(name)).await?;
    tracing::info!(role = name, "deleted API key role");
    Ok(Response::no_content())
}
