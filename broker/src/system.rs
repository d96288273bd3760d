//! The `sys/` backend served by the broker itself: mounts, auth methods, policies,
//! capabilities and keyring operations. The seal lifecycle endpoints (init, unseal,
//! seal-status, health, rekey) work while sealed and so live on [`crate::core::Core`] instead.

mod audit;
mod capabilities;
mod keys;
mod leases;
pub(crate) mod metrics;
mod mounts;
mod policies;

use lessor_sdk::{Map, Operation, Params, Route};
use serde::de::DeserializeOwned;

use crate::audit::RequestAudit;
use crate::core::Unsealed;
use crate::core::dispatch::{Caller, resolve};
use crate::error::ApiError;
use crate::request::{LogicalRequest, LogicalResponse};

use Operation::{Create, Delete, List, Read, Update};

const MOUNTS: &str = "mounts";
const MOUNT: &str = "mounts/*path";
const AUTH: &str = "auth";
const AUTH_MOUNT: &str = "auth/*path";
const POLICIES_ACL: &str = "policies/acl";
const POLICY_ACL: &str = "policies/acl/:name";
const POLICY_LEGACY_LIST: &str = "policy";
const POLICY_LEGACY: &str = "policy/:name";
const CAPABILITIES_SELF: &str = "capabilities-self";
const CAPABILITIES: &str = "capabilities";
const CAPABILITIES_ACCESSOR: &str = "capabilities-accessor";
const ROTATE: &str = "rotate";
const KEY_STATUS: &str = "key-status";
const UI_MOUNTS: &str = "internal/ui/mounts/*path";
const LEASES: &str = "leases";
const LEASE_LOOKUP: &str = "leases/lookup";
const LEASE_LOOKUP_LIST: &str = "leases/lookup/*prefix";
const LEASE_RENEW: &str = "leases/renew/*id";
const LEASE_RENEW_LEGACY: &str = "renew/*id";
const LEASE_REVOKE: &str = "leases/revoke/*id";
const LEASE_REVOKE_LEGACY: &str = "revoke/*id";
const LEASE_REVOKE_PREFIX: &str = "leases/revoke-prefix/*prefix";
const LEASE_REVOKE_FORCE: &str = "leases/revoke-force/*prefix";
const LEASE_TIDY: &str = "leases/tidy";
const LEASE_COUNT: &str = "leases/count";
const AUDIT: &str = "audit";
const AUDIT_DEVICE: &str = "audit/*path";
const AUDIT_HASH: &str = "audit-hash/*path";

fn routes() -> Vec<Route> {
    vec![
        Route::new(MOUNTS, &[Read]),
        Route::new(MOUNT, &[Read, Update, Delete]),
        Route::new(AUTH, &[Read]),
        Route::new(AUTH_MOUNT, &[Read, Update, Delete]),
        Route::new(POLICIES_ACL, &[List]),
        Route::new(POLICY_ACL, &[Read, Create, Update, Delete]),
        Route::new(POLICY_LEGACY_LIST, &[Read, List]),
        Route::new(POLICY_LEGACY, &[Read, Create, Update, Delete]),
        Route::new(CAPABILITIES_SELF, &[Update]),
        Route::new(CAPABILITIES, &[Update]),
        Route::new(CAPABILITIES_ACCESSOR, &[Update]),
        Route::new(ROTATE, &[Update]),
        Route::new(KEY_STATUS, &[Read]),
        Route::new(UI_MOUNTS, &[Read]),
        Route::new(LEASES, &[Read, List]),
        Route::new(LEASE_LOOKUP, &[Update]),
        Route::new(LEASE_LOOKUP_LIST, &[List]),
        Route::new(LEASE_RENEW, &[Update]),
        Route::new(LEASE_RENEW_LEGACY, &[Update]),
        Route::new(LEASE_REVOKE_PREFIX, &[Update]),
        Route::new(LEASE_REVOKE_FORCE, &[Update]),
        Route::new(LEASE_REVOKE, &[Update]),
        Route::new(LEASE_REVOKE_LEGACY, &[Update]),
        Route::new(LEASE_TIDY, &[Update]),
        Route::new(LEASE_COUNT, &[Read]),
        Route::new(AUDIT, &[Read]),
        Route::new(AUDIT_DEVICE, &[Update, Delete]),
        Route::new(AUDIT_HASH, &[Update]),
        Route::new(metrics::ROUTE, &[Read]),
    ]
}

/// Vault's root-protected paths: the capability alone is not enough, the matching policy
/// rule must also grant `sudo`.
fn requires_sudo(route: &str, operation: Operation) -> bool {
    match route {
        AUTH_MOUNT => operation != Read,
        ROTATE => true,
        LEASE_LOOKUP_LIST | LEASE_REVOKE_PREFIX | LEASE_REVOKE_FORCE => true,
        AUDIT | AUDIT_DEVICE | AUDIT_HASH => true,
        _ => false,
    }
}

/// What a `sys/` handler receives.
pub(crate) struct SysRequest<'a> {
    pub unsealed: &'a Unsealed,
    pub caller: Caller,
    pub request: LogicalRequest,
    pub params: Params,
}

impl SysRequest<'_> {
    /// Decodes the body into a typed struct; wrong types and unknown fields are a 400.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        decode(&self.request.data)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(data: &Map) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(data.clone()))
        .map_err(|error| ApiError::invalid(format!("invalid request body: {error}")))
}

pub(crate) async fn handle(
    unsealed: &Unsealed,
    request: LogicalRequest,
    relative: &str,
    audit: &mut RequestAudit<'_>,
) -> Result<LogicalResponse, ApiError> {
    let routes = routes();
    let caller = unsealed.authenticate(&request).await?;
    let (route, params) = resolve(&routes, relative, request.operation)?;
    let route = route.pattern.source();
    crate::metrics::route::matched(crate::mount::SYSTEM_PREFIX, route);
    let mut operation = request.operation;
    // Writing a policy is `create` when it does not exist yet.
    if operation == Update
        && matches!(route, POLICY_ACL | POLICY_LEGACY)
        && unsealed
            .policies()
            .read(params.get("name"))
            .await?
            .is_none()
    {
        operation = Create;
    }
    // capabilities-self answers about the caller's own token: anyone authenticated may ask.
    if route != CAPABILITIES_SELF && route != UI_MOUNTS {
        unsealed.authorize_audited(
            audit,
            &caller,
            &request.path,
            operation,
            &request,
            requires_sudo(route, operation),
        )?;
    }
    audit.admit(Some(&caller))?;
    let sys = SysRequest {
        unsealed,
        caller,
        request,
        params,
    };
    match route {
        MOUNTS => mounts::list(&sys, crate::mount::MountKind::Secret),
        AUTH => mounts::list(&sys, crate::mount::MountKind::Auth),
        MOUNT => mounts::mount_path(&sys, crate::mount::MountKind::Secret).await,
        AUTH_MOUNT => mounts::mount_path(&sys, crate::mount::MountKind::Auth).await,
        UI_MOUNTS => mounts::ui_mount(&sys),
        POLICIES_ACL => policies::list(&sys, false).await,
        POLICY_LEGACY_LIST => policies::list(&sys, true).await,
        POLICY_ACL => policies::policy(&sys, false).await,
        POLICY_LEGACY => policies::policy(&sys, true).await,
        CAPABILITIES_SELF => capabilities::self_capabilities(&sys).await,
        CAPABILITIES => capabilities::token_capabilities(&sys).await,
        CAPABILITIES_ACCESSOR => capabilities::accessor_capabilities(&sys).await,
        ROTATE => keys::rotate(&sys).await,
        KEY_STATUS => keys::status(&sys),
        LEASES => leases::list_irrevocable(&sys).await,
        LEASE_LOOKUP | LEASE_LOOKUP_LIST => leases::lookup(&sys).await,
        LEASE_RENEW | LEASE_RENEW_LEGACY => leases::renew(&sys).await,
        LEASE_REVOKE | LEASE_REVOKE_LEGACY => leases::revoke(&sys).await,
        LEASE_REVOKE_PREFIX => leases::revoke_prefix(&sys, false).await,
        LEASE_REVOKE_FORCE => leases::revoke_prefix(&sys, true).await,
        LEASE_TIDY => leases::tidy(&sys).await,
        LEASE_COUNT => leases::count(&sys).await,
        AUDIT => audit::list(&sys),
        AUDIT_DEVICE => audit::device(&sys).await,
        AUDIT_HASH => audit::hash(&sys),
        metrics::ROUTE => metrics::read(&sys),
        _ => Err(ApiError::NotFound(String::new())),
    }
}

/// Builds a JSON object from pairs, for response data.
pub(crate) fn object(value: serde_json::Value) -> Result<LogicalResponse, ApiError> {
    match value {
        serde_json::Value::Object(map) => Ok(LogicalResponse::data(map)),
        _ => Err(ApiError::internal("response data is not an object")),
    }
}
