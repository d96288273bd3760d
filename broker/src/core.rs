//! The broker core: the seal lifecycle (init, unseal, seal, rekey, rotate), the node's HA mode,
//! and the state that exists only while active. The HTTP layer talks to nothing else.
//!
//! A node is [`NodeMode::Sealed`], [`NodeMode::Standby`] (HA only: the root key is held, nothing
//! is loaded, nothing runs) or [`NodeMode::Active`] (an [`Unsealed`] state serves requests and
//! runs the expiration manager). Without HA an unseal goes straight to active; with HA the
//! coordinator (`crate::ha`) moves the node between standby and active.
//!
//! Architecture invariant: everything that holds key material or decrypted data hangs off
//! [`Unsealed`]; sealing (or stepping down) drops it and wipes its barrier's keyring, so a
//! request still in flight fails instead of reading plaintext or writing as a deposed leader.

pub(crate) mod dispatch;
mod leasing;
mod mounts;
mod unsealed;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use lessor_barrier::UnsealedBarrier;
use lessor_sdk::Clock;
use lessor_seal::{SealManager, UnsealStep};
use lessor_storage::{Backend, Storage};
use lessor_token::TokenStore;
use zeroize::Zeroizing;

pub use mounts::MountRequest;
pub use unsealed::Unsealed;

use crate::error::ApiError;
use crate::ha::{Ha, LeaderStatus};
use crate::mount::Catalog;
use crate::request::{LogicalRequest, LogicalResponse};
use crate::view::BarrierView;

/// System-wide settings the core runs with.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
    /// Failed revocations before a lease becomes irrevocable.
    pub lease_revocation_attempts: u32,
    /// Size of the barrier's read cache, which each unseal starts empty.
    pub read_cache: lessor_barrier::CacheLimits,
}

/// What `sys/init` hands back, once.
pub struct InitOutput {
    pub shares: Vec<lessor_seal::Share>,
    pub root_token: Zeroizing<String>,
}

impl std::fmt::Debug for InitOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitOutput")
            .field("shares", &self.shares.len())
            .field("root_token", &"<redacted>")
            .finish()
    }
}

/// What `sys/seal-status` and `sys/health` report.
#[derive(Debug, Clone)]
pub struct SealStatusView {
    pub initialized: bool,
    pub sealed: bool,
    pub threshold: u8,
    pub shares: u8,
    pub progress: u8,
    pub nonce: String,
}

/// The outcome of one `sys/unseal` call.
#[derive(Debug)]
pub enum UnsealOutcome {
    Progress,
    Unsealed,
}

/// What a node is doing, as `sys/health` and `sys/leader` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeMode {
    Sealed,
    /// HA: unsealed, waiting for leadership; requests go to the active node.
    Standby,
    Active,
}

#[derive(Debug)]
enum NodeState {
    Sealed,
    /// The barrier unseal produced. Held so the node can become active without the operators'
    /// shares; nothing is read through it until then.
    Standby {
        barrier: Arc<UnsealedBarrier>,
    },
    /// `barrier` is the one unseal produced, kept for stepping down; `unsealed` runs on a
    /// reopened copy of it under HA (fresh keyring and cache), on `barrier` itself without.
    Active {
        barrier: Arc<UnsealedBarrier>,
        unsealed: Arc<Unsealed>,
    },
}

#[derive(Debug)]
pub struct Core {
    storage: Arc<dyn Storage>,
    seal: SealManager,
    clock: Arc<dyn Clock>,
    settings: CoreSettings,
    catalog: Catalog,
    /// Held only for the instant of a read or swap, never across an await.
    state: RwLock<NodeState>,
    /// Serialises state transitions (init, unseal completion, seal, takeover, step-down) so
    /// two cannot interleave. Taken before the HA leadership lock, never after it.
    transition: tokio::sync::Mutex<()>,
    ha: Option<Arc<Ha>>,
}

impl Core {
    pub fn new(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, settings: CoreSettings) -> Self {
        let backend: Arc<dyn Backend> = storage.clone();
        // The recorder must exist before the first gauge is set, or the value is lost.
        crate::metrics::install();
        crate::metrics::set_sealed(true);
        Self {
            seal: SealManager::new(
                lessor_barrier::Barrier::new(backend).with_cache_limits(settings.read_cache),
            ),
            storage,
            clock,
            settings,
            catalog: Catalog,
            state: RwLock::new(NodeState::Sealed),
            transition: tokio::sync::Mutex::new(()),
            ha: None,
        }
    }

    /// Makes this core an HA node: unseal leads to standby, and `crate::ha::coordinate` must
    /// run to make it active.
    pub fn with_ha(mut self, ha: Arc<Ha>) -> Self {
        self.ha = Some(ha);
        self
    }

    pub fn ha(&self) -> Option<&Arc<Ha>> {
        self.ha.as_ref()
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The active node's state; `Sealed`, or `NotActive` on a standby.
    pub fn unsealed(&self) -> Result<Arc<Unsealed>, ApiError> {
        match &*self.state.read().unwrap_or_else(|p| p.into_inner()) {
            NodeState::Active { unsealed, .. } => Ok(Arc::clone(unsealed)),
            NodeState::Standby { .. } => Err(ApiError::NotActive),
            NodeState::Sealed => Err(ApiError::Sealed),
        }
    }

    pub fn mode(&self) -> NodeMode {
        match &*self.state.read().unwrap_or_else(|p| p.into_inner()) {
            NodeState::Sealed => NodeMode::Sealed,
            NodeState::Standby { .. } => NodeMode::Standby,
            NodeState::Active { .. } => NodeMode::Active,
        }
    }

    pub fn is_sealed(&self) -> bool {
        self.mode() == NodeMode::Sealed
    }

    pub async fn seal_status(&self) -> Result<SealStatusView, ApiError> {
        let status = self.seal.status().await.map_err(seal_error)?;
        Ok(SealStatusView {
            initialized: status.initialized,
            sealed: self.is_sealed(),
            threshold: status.t,
            shares: status.n,
            progress: status.progress,
            nonce: status.nonce,
        })
    }

    /// `sys/init`: creates the root key and keyring, splits the unseal key into shares, and
    /// mints the root token. The broker stays sealed afterwards, as Vault's does.
    ///
    /// With HA, writes are fenced until a node leads, and nobody leads before the first
    /// unseal: this node takes leadership for the duration of init and gives it back.
    pub async fn initialize(&self, shares: u8, threshold: u8) -> Result<InitOutput, ApiError> {
        let _transition = self.transition.lock().await;
        if let Some(ha) = &self.ha {
            match ha.try_acquire().await {
                Ok(Some(_)) => {}
                // Someone leads, so someone is unsealed: the cluster is initialized.
                Ok(None) => return Err(ApiError::AlreadyInitialized),
                Err(error) => return Err(ApiError::internal(error)),
            }
        }
        let result = self.initialize_leading(shares, threshold).await;
        if let Some(ha) = &self.ha {
            ha.release().await;
        }
        result
    }

    async fn initialize_leading(&self, shares: u8, threshold: u8) -> Result<InitOutput, ApiError> {
        let init = self
            .seal
            .initialize(shares, threshold, self.clock.now())
            .await
            .map_err(seal_error)?;
        let barrier = init.barrier;
        let result = self.mint_root_token(&barrier, None).await;
        // Whatever happened, no key stays in memory after init.
        barrier.seal();
        let root_token = result?;
        Ok(InitOutput {
            shares: init.shares,
            root_token,
        })
    }

    async fn mint_root_token(
        &self,
        barrier: &Arc<UnsealedBarrier>,
        id: Option<&str>,
    ) -> Result<Zeroizing<String>, ApiError> {
        let tokens = TokenStore::new(
            Arc::new(BarrierView::new(
                Arc::clone(barrier),
                unsealed::TOKEN_PREFIX,
            )),
            Arc::clone(&self.clock),
            unsealed::token_limits(&self.settings),
        );
        let issued = tokens.create_root(id).await.map_err(ApiError::from)?;
        Ok(Zeroizing::new(issued.client_token.expose().to_string()))
    }

    /// `sys/unseal` with one share (hex or base64).
    pub async fn submit_unseal_share(&self, share: &str) -> Result<UnsealOutcome, ApiError> {
        if !self.is_sealed() {
            return Ok(UnsealOutcome::Unsealed);
        }
        let share = lessor_seal::decode_share(share).map_err(seal_error)?;
        let _transition = self.transition.lock().await;
        if !self.is_sealed() {
            return Ok(UnsealOutcome::Unsealed);
        }
        match self
            .seal
            .submit_unseal_share(&share)
            .await
            .map_err(seal_error)?
        {
            UnsealStep::Progress { .. } => Ok(UnsealOutcome::Progress),
            UnsealStep::Unsealed(barrier) => {
                self.activate(barrier).await?;
                Ok(UnsealOutcome::Unsealed)
            }
        }
    }

    pub async fn reset_unseal(&self) {
        self.seal.reset_unseal().await;
    }

    /// Publishes a freshly unsealed barrier: as a standby under HA (the coordinator takes it
    /// from there), else by loading the active state at once. On failure the barrier is sealed
    /// again: a half-activated broker must not serve.
    async fn activate(&self, barrier: Arc<UnsealedBarrier>) -> Result<(), ApiError> {
        if let Some(ha) = &self.ha {
            self.set_state(NodeState::Standby { barrier });
            crate::metrics::set_sealed(false);
            tracing::info!("broker unsealed; standby until it takes HA leadership");
            ha.notify();
            return Ok(());
        }
        match self.load(Arc::clone(&barrier)).await {
            Ok(unsealed) => {
                self.set_state(NodeState::Active {
                    barrier,
                    unsealed: Arc::new(unsealed),
                });
                crate::metrics::set_sealed(false);
                tracing::info!("broker unsealed");
                Ok(())
            }
            Err(error) => {
                barrier.seal();
                tracing::error!(%error, "unseal failed while loading state; sealed again");
                Err(error)
            }
        }
    }

    async fn load(&self, barrier: Arc<UnsealedBarrier>) -> Result<Unsealed, ApiError> {
        Unsealed::load(
            barrier,
            self.storage.clone(),
            Arc::clone(&self.clock),
            self.settings.clone(),
            self.catalog.clone(),
        )
        .await
    }

    fn set_state(&self, state: NodeState) -> NodeState {
        std::mem::replace(
            &mut *self.state.write().unwrap_or_else(|p| p.into_inner()),
            state,
        )
    }

    /// HA: this node has just taken leadership (`epoch`); a standby becomes active. The
    /// barrier is reopened (a keyring rotated by the previous leader is read again, the read
    /// cache starts empty) and everything else is loaded as on an ordinary unseal: mounts,
    /// policies, tokens, and the expiration manager, which revokes at once whatever expired
    /// while nobody was active. Returns whether the node is active; if not, leadership has
    /// been given back.
    pub(crate) async fn take_over(&self, epoch: i64) -> bool {
        let Some(ha) = &self.ha else {
            return false;
        };
        let _transition = self.transition.lock().await;
        let barrier = match &*self.state.read().unwrap_or_else(|p| p.into_inner()) {
            NodeState::Standby { barrier } => Some(Arc::clone(barrier)),
            NodeState::Active { .. } => return true,
            NodeState::Sealed => None,
        };
        let Some(barrier) = barrier else {
            // Sealed while the attempt was under way: the lock must go back.
            ha.release().await;
            return false;
        };
        let loaded = match barrier.reopen().await {
            Ok(reopened) => match self.load(Arc::clone(&reopened)).await {
                Ok(unsealed) => Ok(unsealed),
                Err(error) => {
                    reopened.seal();
                    Err(error)
                }
            },
            Err(error) => Err(ApiError::internal(error)),
        };
        match loaded {
            Ok(unsealed) => {
                self.set_state(NodeState::Active {
                    barrier,
                    unsealed: Arc::new(unsealed),
                });
                ha.notify();
                tracing::info!(epoch, "this node is now the active node");
                true
            }
            Err(error) => {
                tracing::error!(%error, epoch, "taking over as the active node failed; giving leadership back");
                ha.release().await;
                false
            }
        }
    }

    /// HA: leadership is lost (the storage layer has already fenced this node's writes). The
    /// expiration manager stops and the active state goes, its barrier wiped; the node stays
    /// unsealed as a standby.
    pub(crate) async fn step_down(&self) {
        let _transition = self.transition.lock().await;
        let previous = {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            match &*state {
                NodeState::Active { barrier, .. } => {
                    let standby = NodeState::Standby {
                        barrier: Arc::clone(barrier),
                    };
                    Some(std::mem::replace(&mut *state, standby))
                }
                _ => None,
            }
        };
        if let Some(NodeState::Active { unsealed, .. }) = previous {
            unsealed.leases().stop();
            unsealed.barrier().seal();
            tracing::warn!("this node stepped down: it is a standby now");
        }
        if let Some(ha) = &self.ha {
            ha.notify();
        }
    }

    /// `sys/seal`: drops every key from memory. An active HA node gives leadership up at once,
    /// so a standby takes over without waiting for anything to time out.
    pub async fn seal(&self) {
        let _transition = self.transition.lock().await;
        let was_unsealed = match self.set_state(NodeState::Sealed) {
            NodeState::Active { barrier, unsealed } => {
                unsealed.leases().stop();
                unsealed.barrier().seal();
                barrier.seal();
                true
            }
            NodeState::Standby { barrier } => {
                barrier.seal();
                true
            }
            NodeState::Sealed => false,
        };
        if let Some(ha) = &self.ha {
            ha.release().await;
            ha.notify();
        }
        if was_unsealed {
            crate::metrics::set_sealed(true);
            tracing::info!("broker sealed");
        }
        self.seal.reset_unseal().await;
    }

    /// Dev mode: initialise 1-of-1, unseal, mount KV v2 at `secret/`.
    pub async fn bootstrap_dev(&self, root_token_id: Option<&str>) -> Result<InitOutput, ApiError> {
        let mut output = self.initialize(1, 1).await?;
        let share = output
            .shares
            .first()
            .map(|share| share.to_hex())
            .ok_or_else(|| ApiError::internal("init returned no share"))?;
        self.submit_unseal_share(share.as_str()).await?;
        let unsealed = self.unsealed()?;
        if let Some(id) = root_token_id {
            let issued = unsealed
                .tokens()
                .create_root(Some(id))
                .await
                .map_err(ApiError::from)?;
            output.root_token = Zeroizing::new(issued.client_token.expose().to_string());
        }
        let mut options = lessor_sdk::Map::new();
        options.insert("version".into(), "2".into());
        unsealed
            .enable_mount(MountRequest {
                kind: crate::mount::MountKind::Secret,
                path: "secret/".into(),
                engine_type: "kv".into(),
                description: "key/value secret storage".into(),
                config: Default::default(),
                options,
            })
            .await?;
        Ok(output)
    }

    pub async fn handle(&self, request: LogicalRequest) -> Result<LogicalResponse, ApiError> {
        let result = self.unsealed()?.handle(request).await;
        match result {
            // A write fenced by the storage layer, or a barrier wiped by a step-down, surfaces
            // as an internal error from deep below; once leadership is gone it means "not the
            // active node" and the client should retry (it will be forwarded), not a fault.
            Err(ApiError::Internal(detail)) if self.lost_leadership().await => {
                tracing::debug!(error = %detail, "request failed after this node lost leadership");
                Err(ApiError::NotActive)
            }
            other => other,
        }
    }

    /// HA: this node was active and no longer holds leadership (it may not have stepped
    /// down yet). Only asked after a request failed, so the database read is rare.
    async fn lost_leadership(&self) -> bool {
        match &self.ha {
            Some(ha) => !ha.still_leads().await,
            None => false,
        }
    }

    /// `sys/leader`.
    pub async fn leader_status(&self) -> Result<LeaderStatus, ApiError> {
        let mode = self.mode();
        if mode == NodeMode::Sealed {
            return Err(ApiError::Sealed);
        }
        match &self.ha {
            None => Ok(LeaderStatus::disabled()),
            Some(ha) => ha
                .leader_status(mode == NodeMode::Active)
                .await
                .map_err(ApiError::internal),
        }
    }

    pub fn seal_manager(&self) -> &SealManager {
        &self.seal
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }
}

/// Seal errors as API errors. Wrong shares and bad input are the client's fault (400);
/// storage failures are ours.
pub(crate) fn seal_error(error: lessor_seal::SealError) -> ApiError {
    use lessor_seal::SealError;
    match error {
        SealError::AlreadyInitialized => ApiError::AlreadyInitialized,
        SealError::NotInitialized => ApiError::NotInitialized,
        SealError::Storage(_) | SealError::Barrier(_) => ApiError::internal(error),
        other => ApiError::InvalidRequest(other.to_string()),
    }
}
