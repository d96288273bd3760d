//! How the core plugs into the expiration manager and the token store: lease renewals and
//! revocations are routed to the issuing mount's engine, and revoking a token revokes its
//! leases first.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::{EngineError, RenewOutcome};
use lessor_token::{TokenEntry, TokenError, TokenHooks, TokenStore};

use crate::lease::{ExpirationManager, LeaseRecord, LeaseTarget, TOKEN_MOUNT, leased_secret};
use crate::mount::{MountedBackend, Router};

/// Routes lease operations to the engine mounted at the lease's mount path.
#[derive(Debug)]
pub(crate) struct MountTarget {
    pub(crate) router: Arc<RwLock<Arc<Router>>>,
    /// Token leases expire by revoking the token (and so its children and leases).
    pub(crate) tokens: Arc<TokenStore>,
}

impl MountTarget {
    fn engine(
        &self,
        mount: &str,
    ) -> Result<(Arc<dyn lessor_sdk::SecretEngine>, lessor_sdk::EngineContext), EngineError> {
        let router = Arc::clone(&self.router.read().unwrap_or_else(|p| p.into_inner()));
        let mounted = router
            .find(mount)
            .ok_or_else(|| EngineError::Internal(format!("no engine is mounted at {mount}")))?;
        match &mounted.backend {
            MountedBackend::Secret(engine) => Ok((Arc::clone(engine), mounted.ctx.clone())),
            MountedBackend::Auth(_) => Err(EngineError::Internal(format!(
                "{mount} is an auth method and issues no leases"
            ))),
        }
    }
}

#[async_trait]
impl LeaseTarget for MountTarget {
    async fn revoke(&self, record: &LeaseRecord) -> Result<(), EngineError> {
        if record.mount == TOKEN_MOUNT {
            let hash = record.payload["hash"]
                .as_str()
                .ok_or_else(|| EngineError::Internal("token lease without a token hash".into()))?;
            return match self.tokens.revoke_tree(hash).await {
                Ok(_) | Err(TokenError::InvalidToken) => Ok(()),
                Err(error) => Err(error.into()),
            };
        }
        let (engine, ctx) = self.engine(&record.mount)?;
        engine.revoke(&ctx, &leased_secret(record)).await
    }

    async fn renew(
        &self,
        record: &LeaseRecord,
        increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError> {
        let (engine, ctx) = self.engine(&record.mount)?;
        engine.renew(&ctx, &leased_secret(record), increment).await
    }

    fn max_lease_ttl(&self, mount: &str) -> Option<Duration> {
        let router = Arc::clone(&self.router.read().unwrap_or_else(|p| p.into_inner()));
        router.find(mount).map(|mounted| mounted.ctx.max_lease_ttl)
    }
}

/// What the broker plugs into the token store: revoking a token revokes its leases first, and
/// renewing a login token asks the auth method that minted it. The manager is held weakly: the
/// manager outlives neither the unsealed state nor the token store that holds these hooks.
#[derive(Debug)]
pub(crate) struct LeaseHooks {
    pub(crate) manager: Weak<ExpirationManager>,
    pub(crate) router: Arc<RwLock<Arc<Router>>>,
}

#[async_trait]
impl TokenHooks for LeaseHooks {
    async fn token_revoking(&self, entry: &TokenEntry) -> Result<(), EngineError> {
        let Some(manager) = self.manager.upgrade() else {
            return Err(EngineError::Internal("the broker is sealed".into()));
        };
        // Fail closed for the token, not for its leases: the token is revoked now whatever
        // happens; a lease whose revocation fails stays in the index, owned by the dead
        // token, and the expiration manager keeps retrying it (then marks it irrevocable).
        if let Err(error) = manager.revoke_owner(&entry.hash).await {
            tracing::warn!(accessor = %entry.accessor, %error, "some leases of a revoked token will be retried");
        }
        manager
            .forget_token(&entry.hash)
            .await
            .map_err(|error| EngineError::Internal(error.to_string()))
    }

    /// Routes the renewal of a login token (`entry.path` = `auth/<mount>/login…`) to the auth
    /// method mounted there. A method that is gone refuses: its tokens cannot be vouched for.
    async fn login_renewal(
        &self,
        entry: &TokenEntry,
        increment: Option<Duration>,
    ) -> Result<Option<lessor_sdk::AuthGrant>, EngineError> {
        let router = Arc::clone(&self.router.read().unwrap_or_else(|p| p.into_inner()));
        let Some((crate::mount::Target::Mount(mounted), _)) = router.route(&entry.path) else {
            return Err(EngineError::PermissionDenied);
        };
        let MountedBackend::Auth(method) = &mounted.backend else {
            return Err(EngineError::PermissionDenied);
        };
        let renewal = lessor_sdk::AuthRenewal {
            policies: entry.policies.clone(),
            metadata: entry.meta.clone(),
            internal: entry.internal.clone(),
            issue_time: entry.creation_time,
            increment,
        };
        method.renew(&mounted.ctx, &renewal).await.map(Some)
    }
}
