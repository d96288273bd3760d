//! `role/:name`: which service accounts may log in, and what token they get. Storage key:
//! `role/<name>`.
//!
//! Vault's token fields (`token_policies`, `token_ttl`…) are the canonical names; the legacy
//! names hvac and older scripts send (`policies`, `ttl`, `max_ttl`, `period`, `num_uses`,
//! `bound_cidrs`) are accepted as aliases, the `token_` name winning when both are given.
//!
//! `token_bound_cidrs` is stored and returned but **not enforced yet**: the SDK's request
//! does not carry the client address, so a login cannot be checked against it.

use std::net::IpAddr;
use std::time::Duration;

use lessor_sdk::{EngineContext, MountStorageExt, Operation, Request, Response, Ttl};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::KubeAuthError;
use crate::fields::{check_role_name, string_list};

/// Which identifier becomes the token's entity alias.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AliasNameSource {
    /// The service account's UID: stable across renames, unique across re-creations.
    #[default]
    ServiceaccountUid,
    /// `<namespace>/<name>`: readable, but a re-created account inherits the alias.
    ServiceaccountName,
}

/// A stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Role {
    pub bound_service_account_names: Vec<String>,
    pub bound_service_account_namespaces: Vec<String>,
    pub audience: String,
    pub alias_name_source: AliasNameSource,
    pub token_policies: Vec<String>,
    pub token_ttl: Ttl,
    pub token_max_ttl: Ttl,
    pub token_period: Ttl,
    pub token_num_uses: u32,
    pub token_bound_cidrs: Vec<String>,
    pub token_type: String,
}

impl Role {
    pub(crate) fn audience(&self) -> Option<&str> {
        (!self.audience.is_empty()).then_some(self.audience.as_str())
    }

    pub(crate) fn max_ttl(&self) -> Option<Duration> {
        (!self.token_max_ttl.is_zero()).then_some(self.token_max_ttl.0)
    }

    pub(crate) fn period(&self) -> Option<Duration> {
        (!self.token_period.is_zero()).then_some(self.token_period.0)
    }
}

pub(crate) fn storage_key(name: &str) -> String {
    format!("role/{name}")
}

pub(crate) async fn load(ctx: &EngineContext, name: &str) -> Result<Option<Role>, KubeAuthError> {
    Ok(ctx.storage.get_json(&storage_key(name)).await?)
}

/// Every field Vault documents for Kubernetes roles, including the legacy aliases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    name: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    bound_service_account_names: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    bound_service_account_namespaces: Option<Vec<String>>,
    bound_service_account_namespace_selector: Option<String>,
    audience: Option<String>,
    alias_name_source: Option<AliasNameSource>,
    #[serde(default, deserialize_with = "string_list")]
    token_policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    policies: Option<Vec<String>>,
    token_ttl: Option<Ttl>,
    ttl: Option<Ttl>,
    token_max_ttl: Option<Ttl>,
    max_ttl: Option<Ttl>,
    token_period: Option<Ttl>,
    period: Option<Ttl>,
    token_num_uses: Option<u32>,
    num_uses: Option<u32>,
    #[serde(default, deserialize_with = "string_list")]
    token_bound_cidrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    bound_cidrs: Option<Vec<String>>,
    token_type: Option<String>,
    token_explicit_max_ttl: Option<Ttl>,
    token_no_default_policy: Option<bool>,
}

pub(crate) async fn read(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KubeAuthError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(KubeAuthError::Invalid)?;
    let role = load(ctx, name).await?.ok_or(KubeAuthError::NotFound)?;
    Response::from_serialize(&json!({
        "bound_service_account_names": role.bound_service_account_names,
        "bound_service_account_namespaces": role.bound_service_account_namespaces,
        "bound_service_account_namespace_selector": "",
        "audience": role.audience,
        "alias_name_source": role.alias_name_source,
        "token_policies": role.token_policies,
        "token_ttl": role.token_ttl.as_secs(),
        "token_max_ttl": role.token_max_ttl.as_secs(),
        "token_period": role.token_period.as_secs(),
        "token_num_uses": role.token_num_uses,
        "token_bound_cidrs": role.token_bound_cidrs,
        "token_type": if role.token_type.is_empty() { "default" } else { &role.token_type },
        "token_explicit_max_ttl": 0,
        "token_no_default_policy": false,
        // The legacy names, mirrored for clients that still read them.
        "policies": role.token_policies,
        "ttl": role.token_ttl.as_secs(),
        "max_ttl": role.token_max_ttl.as_secs(),
        "period": role.token_period.as_secs(),
    }))
    .map_err(|error| KubeAuthError::Internal(error.to_string()))
}

pub(crate) async fn list(ctx: &EngineContext) -> Result<Response, KubeAuthError> {
    Ok(Response::list(ctx.storage.list("role/").await?))
}

pub(crate) async fn exists(ctx: &EngineContext, request: &Request) -> Result<bool, KubeAuthError> {
    let name = request.params.get("name");
    if check_role_name(name).is_err() {
        return Ok(false);
    }
    Ok(ctx.storage.get(&storage_key(name)).await?.is_some())
}

pub(crate) async fn write(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KubeAuthError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(KubeAuthError::Invalid)?;
    let body: RoleRequest = request
        .decode()
        .map_err(|error| KubeAuthError::invalid(error.to_string()))?;
    if body.name.as_deref().is_some_and(|n| n != name) {
        return Err(KubeAuthError::invalid(
            "name in the body differs from the path",
        ));
    }
    let mut role = match load(ctx, name).await? {
        Some(role) if request.operation != Operation::Create => role,
        _ => Role::default(),
    };
    apply(&mut role, body)?;
    validate(&role)?;
    ctx.storage.put_json(&storage_key(name), &role).await?;
    Ok(Response::no_content())
}

pub(crate) async fn delete(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KubeAuthError> {
    let name = request.params.get("name");
    check_role_name(name).map_err(KubeAuthError::Invalid)?;
    ctx.storage.delete(&storage_key(name)).await?;
    Ok(Response::no_content())
}

fn apply(role: &mut Role, body: RoleRequest) -> Result<(), KubeAuthError> {
    if body
        .bound_service_account_namespace_selector
        .as_deref()
        .is_some_and(|selector| !selector.trim().is_empty())
    {
        return Err(KubeAuthError::invalid(
            "bound_service_account_namespace_selector is not supported",
        ));
    }
    if body
        .token_explicit_max_ttl
        .is_some_and(|ttl| !ttl.is_zero())
    {
        return Err(KubeAuthError::invalid(
            "token_explicit_max_ttl is not supported",
        ));
    }
    if body.token_no_default_policy == Some(true) {
        return Err(KubeAuthError::invalid(
            "token_no_default_policy is not supported",
        ));
    }
    if let Some(names) = body.bound_service_account_names {
        role.bound_service_account_names = names;
    }
    if let Some(namespaces) = body.bound_service_account_namespaces {
        role.bound_service_account_namespaces = namespaces;
    }
    if let Some(audience) = body.audience {
        role.audience = audience.trim().to_string();
    }
    if let Some(source) = body.alias_name_source {
        role.alias_name_source = source;
    }
    if let Some(policies) = body.token_policies.or(body.policies) {
        role.token_policies = policies;
    }
    if let Some(ttl) = body.token_ttl.or(body.ttl) {
        role.token_ttl = ttl;
    }
    if let Some(ttl) = body.token_max_ttl.or(body.max_ttl) {
        role.token_max_ttl = ttl;
    }
    if let Some(period) = body.token_period.or(body.period) {
        role.token_period = period;
    }
    if let Some(uses) = body.token_num_uses.or(body.num_uses) {
        role.token_num_uses = uses;
    }
    if let Some(cidrs) = body.token_bound_cidrs.or(body.bound_cidrs) {
        role.token_bound_cidrs = cidrs;
    }
    if let Some(token_type) = body.token_type {
        role.token_type = token_type.trim().to_string();
    }
    Ok(())
}

fn validate(role: &Role) -> Result<(), KubeAuthError> {
    for (field, list) in [
        (
            "bound_service_account_names",
            &role.bound_service_account_names,
        ),
        (
            "bound_service_account_namespaces",
            &role.bound_service_account_namespaces,
        ),
    ] {
        if list.is_empty() {
            return Err(KubeAuthError::invalid(format!(
                "{field} must name at least one value (\"*\" allows all)"
            )));
        }
        if list.len() > 1 && list.iter().any(|entry| entry == "*") {
            return Err(KubeAuthError::invalid(format!(
                "{field} cannot mix \"*\" with other values"
            )));
        }
    }
    if !role.token_max_ttl.is_zero() && role.token_ttl > role.token_max_ttl {
        return Err(KubeAuthError::invalid(
            "token_ttl cannot be greater than token_max_ttl",
        ));
    }
    if !matches!(role.token_type.as_str(), "" | "default" | "service") {
        return Err(KubeAuthError::invalid(
            "only token_type \"default\" or \"service\" is supported",
        ));
    }
    for cidr in &role.token_bound_cidrs {
        check_cidr(cidr)
            .map_err(|error| KubeAuthError::invalid(format!("token_bound_cidrs: {error}")))?;
    }
    Ok(())
}

fn check_cidr(cidr: &str) -> Result<(), String> {
    let (address, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("{cidr:?} is not an IP address or CIDR block"))?;
    if prefix.is_empty() {
        return Ok(());
    }
    let bits = if address.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(length) if length <= bits => Ok(()),
        _ => Err(format!("{cidr:?} has an invalid prefix length")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert!(check_cidr("10.0.0.0/8").is_ok());
        assert!(check_cidr("10.0.0.1").is_ok());
        assert!(check_cidr("fd00::/64").is_ok());
        assert!(check_cidr("10.0.0.0/33").is_err());
        assert!(check_cidr("example.com/8").is_err());
    }
}
