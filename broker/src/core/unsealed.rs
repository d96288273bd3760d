//! Everything that exists only while the broker is unsealed.

use std::sync::{Arc, RwLock};

use lessor_barrier::UnsealedBarrier;
use lessor_sdk::Clock;
use lessor_sdk::Route;
use lessor_storage::LeaseIndex;
use lessor_token::{TokenEndpoints, TokenLimits, TokenStore};

use super::CoreSettings;
use super::leasing::{LeaseHooks, MountTarget};
use crate::audit::Auditor;
use crate::error::ApiError;
use crate::lease::{ExpirationManager, LEASE_CACHE, RetryPolicy};
use crate::mount::{Catalog, MountKind, Router};
use crate::policy_store::PolicyStore;
use crate::view::BarrierView;
use lessor_barrier::CacheLimits;

/// Barrier prefixes of the built-in stores.
pub(crate) const TOKEN_PREFIX: &str = "sys/token/";
pub(crate) const POLICY_PREFIX: &str = "sys/policy/";

pub(crate) fn token_limits(settings: &CoreSettings) -> TokenLimits {
    TokenLimits {
        default_ttl: settings.default_lease_ttl,
        max_ttl: settings.max_lease_ttl,
    }
}

#[derive(Debug)]
pub struct Unsealed {
    pub(super) barrier: Arc<UnsealedBarrier>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: CoreSettings,
    pub(super) catalog: Catalog,
    pub(super) tokens: Arc<TokenStore>,
    pub(super) token_endpoints: TokenEndpoints,
    pub(super) token_routes: Vec<Route>,
    pub(super) policies: PolicyStore,
    pub(super) leases: Arc<ExpirationManager>,
    /// Swapped whole on mount changes; read without awaiting. Shared with the lease target.
    pub(super) router: Arc<RwLock<Arc<Router>>>,
    /// Serialises mount-table changes (read-modify-write of the persisted tables).
    pub(super) mount_changes: tokio::sync::Mutex<()>,
    pub(super) audit: Auditor,
}

impl Unsealed {
    /// Loads the mount tables and built-in stores from the barrier.
    pub(super) async fn load(
        barrier: Arc<UnsealedBarrier>,
        index: Arc<dyn LeaseIndex>,
        clock: Arc<dyn Clock>,
        settings: CoreSettings,
        catalog: Catalog,
    ) -> Result<Self, ApiError> {
        let tokens = Arc::new(TokenStore::new(
            Arc::new(BarrierView::new(Arc::clone(&barrier), TOKEN_PREFIX)),
            Arc::clone(&clock),
            token_limits(&settings),
        ));
        let token_endpoints = TokenEndpoints::new(Arc::clone(&tokens));
        let policies = PolicyStore::new(Arc::new(BarrierView::new(
            Arc::clone(&barrier),
            POLICY_PREFIX,
        )));
        let router = Arc::new(RwLock::new(Arc::new(Router::default())));
        let audit = Auditor::load(Arc::clone(&barrier), Arc::clone(&clock)).await?;
        let leases = ExpirationManager::new(
            index,
            Arc::clone(&barrier),
            Arc::clone(&clock),
            Arc::new(MountTarget {
                router: Arc::clone(&router),
                tokens: Arc::clone(&tokens),
            }),
            RetryPolicy {
                max_attempts: settings.lease_revocation_attempts,
                ..RetryPolicy::default()
            },
            // The lease cache follows the read cache's switch (Vault's physical cache holds
            // leases too), at its own fixed size.
            if settings.read_cache.max_entries == 0 {
                CacheLimits::DISABLED
            } else {
                LEASE_CACHE
            },
        );
        tokens.set_hooks(Arc::new(LeaseHooks {
            manager: Arc::downgrade(&leases),
            router: Arc::clone(&router),
        }));
        let unsealed = Self {
            barrier,
            leases,
            clock,
            settings,
            catalog,
            tokens,
            token_endpoints,
            token_routes: TokenEndpoints::routes(),
            policies,
            router,
            mount_changes: tokio::sync::Mutex::new(()),
            audit,
        };
        let mut mounted = Vec::new();
        for kind in [MountKind::Secret, MountKind::Auth] {
            for entry in unsealed.read_table(kind).await? {
                mounted.push(unsealed.instantiate(entry).await?);
            }
        }
        *unsealed.router.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Router::new(mounted));
        // Only now can due leases find their engines.
        unsealed.leases.start();
        Ok(unsealed)
    }

    pub fn barrier(&self) -> &Arc<UnsealedBarrier> {
        &self.barrier
    }

    pub fn leases(&self) -> &Arc<ExpirationManager> {
        &self.leases
    }

    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    pub fn policies(&self) -> &PolicyStore {
        &self.policies
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    pub fn audit(&self) -> &Auditor {
        &self.audit
    }

    pub fn router(&self) -> Arc<Router> {
        Arc::clone(&self.router.read().unwrap_or_else(|p| p.into_inner()))
    }
}
