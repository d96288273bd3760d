//! The secret-engine contract.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Clock, EngineError, LeaseIntents, LeasedSecret, Map, MountStorage, RenewOutcome, Request,
    Response, Route,
};

/// What the broker gives an engine on every call: its own storage view, the clock, and the
/// mount's settings. Nothing here reaches outside the mount.
#[derive(Debug, Clone)]
pub struct EngineContext {
    pub storage: Arc<dyn MountStorage>,
    pub clock: Arc<dyn Clock>,
    /// Crash-safe registration of credentials about to be created.
    pub leases: Arc<dyn LeaseIntents>,
    /// Where the engine is mounted, with a trailing slash.
    pub mount_path: String,
    /// The mount's default and maximum lease TTLs, already resolved against system defaults.
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
    /// The mount's `options` map (e.g. `{"version": "2"}` for KV).
    pub options: Map,
}

/// A secret engine mounted at a path.
///
/// The broker matches request paths against [`SecretEngine::routes`] (405 when the route
/// exists but not the operation, 404 when nothing matches) and calls [`SecretEngine::handle`].
#[async_trait]
pub trait SecretEngine: Send + Sync + std::fmt::Debug {
    /// The paths this engine serves. Called once, when the mount is set up.
    fn routes(&self) -> Vec<Route>;

    /// Called once when the mount is created or loaded at unseal.
    async fn initialize(&self, _ctx: &EngineContext) -> Result<(), EngineError> {
        Ok(())
    }

    /// For writes on routes that support both `Create` and `Update`: whether the target
    /// exists. Policies grant `create` and `update` separately, so the broker asks first.
    async fn exists(&self, _ctx: &EngineContext, _request: &Request) -> Result<bool, EngineError> {
        Ok(true)
    }

    async fn handle(&self, ctx: &EngineContext, request: Request) -> Result<Response, EngineError>;

    /// Extends a lease this engine issued. Engines whose secrets cannot be extended keep the
    /// default, which refuses.
    async fn renew(
        &self,
        _ctx: &EngineContext,
        _secret: &LeasedSecret,
        _increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError> {
        Err(EngineError::UnsupportedOperation)
    }

    /// Destroys a secret this engine issued. Must be idempotent: a secret that is already
    /// gone at the source is revoked successfully.
    async fn revoke(&self, ctx: &EngineContext, secret: &LeasedSecret) -> Result<(), EngineError>;
}
