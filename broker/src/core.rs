//! The broker core: the seal lifecycle (init, unseal, seal, rekey, rotate) and the state that
//! exists only while unsealed. The HTTP layer talks to nothing else.
//!
//! Architecture invariant: everything that holds key material or decrypted data hangs off
//! [`Unsealed`]; sealing drops it and wipes the barrier's keyring, so a request still in flight
//! fails with "sealed" instead of reading plaintext.

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

#[derive(Debug)]
pub struct Core {
    storage: Arc<dyn Storage>,
    seal: SealManager,
    clock: Arc<dyn Clock>,
    settings: CoreSettings,
    catalog: Catalog,
    /// Held only for the instant of a read or swap, never across an await.
    state: RwLock<Option<Arc<Unsealed>>>,
    /// Serialises seal transitions (init, unseal completion, seal) so two cannot interleave.
    transition: tokio::sync::Mutex<()>,
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
            state: RwLock::new(None),
            transition: tokio::sync::Mutex::new(()),
        }
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The unsealed state, or `Sealed`.
    pub fn unsealed(&self) -> Result<Arc<Unsealed>, ApiError> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or(ApiError::Sealed)
    }

    pub fn is_sealed(&self) -> bool {
        self.unsealed().is_err()
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
    pub async fn initialize(&self, shares: u8, threshold: u8) -> Result<InitOutput, ApiError> {
        let _transition = self.transition.lock().await;
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

    /// Builds the unsealed state from storage and publishes it. On failure the barrier is
    /// sealed again: a half-activated broker must not serve.
    async fn activate(&self, barrier: Arc<UnsealedBarrier>) -> Result<(), ApiError> {
        match Unsealed::load(
            Arc::clone(&barrier),
            self.storage.clone(),
            Arc::clone(&self.clock),
            self.settings.clone(),
            self.catalog.clone(),
        )
        .await
        {
            Ok(unsealed) => {
                *self.state.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(unsealed));
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

    /// `sys/seal`: drops every key from memory.
    pub async fn seal(&self) {
        let _transition = self.transition.lock().await;
        let previous = self.state.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(unsealed) = previous {
            unsealed.leases().stop();
            unsealed.barrier().seal();
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
        self.unsealed()?.handle(request).await
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
