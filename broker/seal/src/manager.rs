//! The seal manager: `sys/init`, `sys/unseal` and `sys/seal-status` logic, holding unseal
//! (and rekey) progress in memory behind one async mutex so submissions are serialized.
//!
//! It never holds the unsealed barrier: it hands an `Arc<UnsealedBarrier>` to the caller,
//! which owns sealing it.

use std::fmt;
use std::sync::Arc;

use lessor_barrier::{
    AeadKey, Barrier, BarrierError, Op, ROOT_KEY_PATH, RootKey, SEAL_CONFIG_PATH, UnsealedBarrier,
    open_blob, seal_blob,
};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::rekey::RekeyProgress;
use crate::share::{Share, combine, split};
use crate::{SealConfig, SealError};

/// What `sys/seal-status` reports about the seal itself (the caller adds `sealed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealStatus {
    pub initialized: bool,
    /// Threshold; 0 when uninitialized.
    pub t: u8,
    /// Number of shares; 0 when uninitialized.
    pub n: u8,
    /// Distinct shares submitted in the current unseal attempt.
    pub progress: u8,
    /// Id of the current unseal attempt; empty when none is under way.
    pub nonce: String,
}

/// The outcome of `sys/init`: the shares (shown once, never stored) and the unsealed barrier,
/// through which the broker writes the root token before sealing it again, as Vault does.
pub struct InitResult {
    pub shares: Vec<Share>,
    pub barrier: Arc<UnsealedBarrier>,
}

impl fmt::Debug for InitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResult")
            .field("shares", &self.shares.len())
            .field("barrier", &self.barrier)
            .finish()
    }
}

/// The outcome of one `sys/unseal` submission.
#[derive(Debug)]
pub enum UnsealStep {
    /// More shares are needed.
    Progress { progress: u8, threshold: u8 },
    /// The threshold was met and the shares were right.
    Unsealed(Arc<UnsealedBarrier>),
}

/// Shares collected toward one operation (an unseal attempt or a rekey). Distinct shares only.
#[derive(Debug)]
pub(crate) struct Collected {
    pub(crate) nonce: String,
    pub(crate) shares: Vec<Share>,
}

/// What adding a share to a [`Collected`] did.
pub(crate) enum Submission {
    Duplicate,
    /// The same identifier with different contents: one of the two is wrong.
    Conflict,
    Accepted,
}

impl Collected {
    pub(crate) fn new() -> Self {
        Self {
            nonce: uuid::Uuid::new_v4().to_string(),
            shares: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, share: Share) -> Submission {
        if self.shares.iter().any(|held| held.same_as(&share)) {
            return Submission::Duplicate;
        }
        if self
            .shares
            .iter()
            .any(|held| held.identifier() == share.identifier())
        {
            return Submission::Conflict;
        }
        self.shares.push(share);
        Submission::Accepted
    }

    pub(crate) fn progress(&self) -> u8 {
        u8::try_from(self.shares.len()).unwrap_or(u8::MAX)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) unseal: Option<Collected>,
    pub(crate) rekey: Option<RekeyProgress>,
}

/// Init, unseal and rekey over one barrier.
#[derive(Debug)]
pub struct SealManager {
    barrier: Barrier,
    pub(crate) progress: tokio::sync::Mutex<Progress>,
}

impl SealManager {
    #[must_use]
    pub fn new(barrier: Barrier) -> Self {
        Self {
            barrier,
            progress: tokio::sync::Mutex::new(Progress::default()),
        }
    }

    /// The sealed barrier handle this manager unseals.
    #[must_use]
    pub fn barrier(&self) -> &Barrier {
        &self.barrier
    }

    pub async fn status(&self) -> Result<SealStatus, SealError> {
        let progress = self.progress.lock().await;
        let config = self.load_config().await?;
        let (progress, nonce) = match &progress.unseal {
            Some(attempt) => (attempt.progress(), attempt.nonce.clone()),
            None => (0, String::new()),
        };
        Ok(SealStatus {
            initialized: config.is_some(),
            t: config.map_or(0, |c| c.secret_threshold),
            n: config.map_or(0, |c| c.secret_shares),
            progress,
            nonce,
        })
    }

    /// `sys/init`: creates the root key, unseal key, keyring and seal records in one atomic
    /// write, and returns the shares plus the unsealed barrier.
    pub async fn initialize(
        &self,
        secret_shares: u8,
        secret_threshold: u8,
        now: OffsetDateTime,
    ) -> Result<InitResult, SealError> {
        let config = SealConfig::new(secret_shares, secret_threshold)?;
        let mut progress = self.progress.lock().await;
        if self.load_config().await?.is_some() || self.barrier.is_initialized().await? {
            return Err(SealError::AlreadyInitialized);
        }
        let root = RootKey::generate();
        let unseal_key = AeadKey::generate();
        let shares = split_verified(&unseal_key, config)?;
        let records = seal_records(config, &unseal_key, &root)?;
        match self.barrier.initialize_with(&root, now, records).await {
            Err(BarrierError::AlreadyInitialized) => return Err(SealError::AlreadyInitialized),
            other => other?,
        }
        *progress = Progress::default();
        let barrier = self.barrier.unseal(&root).await?;
        tracing::info!(
            shares = config.secret_shares,
            threshold = config.secret_threshold,
            "seal initialized"
        );
        Ok(InitResult { shares, barrier })
    }

    /// `sys/unseal` with one share. A malformed share is refused without touching progress;
    /// a duplicate is ignored; once the threshold is met the shares are combined and checked
    /// by decrypting the root key, and progress resets whatever the outcome.
    pub async fn submit_unseal_share(&self, share: &[u8]) -> Result<UnsealStep, SealError> {
        let share = Share::from_bytes(share)?;
        let mut progress = self.progress.lock().await;
        let config = self.load_config().await?.ok_or(SealError::NotInitialized)?;
        let attempt = progress.unseal.get_or_insert_with(Collected::new);
        match attempt.add(share) {
            Submission::Duplicate | Submission::Accepted => {}
            Submission::Conflict => {
                progress.unseal = None;
                return Err(SealError::InvalidKey);
            }
        }
        if attempt.progress() < config.secret_threshold {
            return Ok(UnsealStep::Progress {
                progress: attempt.progress(),
                threshold: config.secret_threshold,
            });
        }
        let Some(attempt) = progress.unseal.take() else {
            return Err(SealError::InvalidKey);
        };
        let root = self.recover_root_key(config, &attempt.shares).await?;
        let barrier = self.barrier.unseal(&root).await?;
        tracing::info!("unsealed");
        Ok(UnsealStep::Unsealed(barrier))
    }

    /// `sys/unseal` with `reset: true`: forgets the shares of the current attempt.
    pub async fn reset_unseal(&self) {
        self.progress.lock().await.unseal = None;
    }

    pub(crate) async fn load_config(&self) -> Result<Option<SealConfig>, SealError> {
        match self.barrier.backend().get(SEAL_CONFIG_PATH).await? {
            Some(bytes) => SealConfig::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Combines `shares` and proves the result by decrypting the stored root key: a wrong or
    /// short combination yields a wrong key silently, and only the AEAD tag can tell.
    pub(crate) async fn recover_root_key(
        &self,
        config: SealConfig,
        shares: &[Share],
    ) -> Result<RootKey, SealError> {
        let unseal_key = combine(shares, config.secret_threshold)?;
        let sealed_root = self
            .barrier
            .backend()
            .get(ROOT_KEY_PATH)
            .await?
            .ok_or(SealError::Corrupt("root key record is missing"))?;
        let root = match open_blob(&unseal_key, ROOT_KEY_PATH.as_bytes(), &sealed_root) {
            Ok(root) => root,
            Err(BarrierError::Integrity) => {
                tracing::warn!("key shares did not reconstruct the unseal key");
                return Err(SealError::InvalidKey);
            }
            Err(other) => return Err(other.into()),
        };
        Ok(RootKey::from_slice(&root)?)
    }
}

/// Splits `unseal_key` and recombines the first T shares before handing any out, so a fault
/// in splitting can never leave operators holding shares that do not unseal.
pub(crate) fn split_verified(
    unseal_key: &AeadKey,
    config: SealConfig,
) -> Result<Vec<Share>, SealError> {
    let shares = split(unseal_key, config.secret_shares, config.secret_threshold)?;
    let threshold = usize::from(config.secret_threshold);
    let check = combine(
        shares.get(..threshold).ok_or(SealError::Sharing)?,
        config.secret_threshold,
    )?;
    if !bool::from(check.expose_secret().ct_eq(unseal_key.expose_secret())) {
        return Err(SealError::Sharing);
    }
    Ok(shares)
}

/// The seal's two records: the config in clear, the root key sealed under the unseal key.
pub(crate) fn seal_records(
    config: SealConfig,
    unseal_key: &AeadKey,
    root: &RootKey,
) -> Result<Vec<Op>, SealError> {
    Ok(vec![
        Op::Put {
            key: SEAL_CONFIG_PATH.to_owned(),
            value: config.encode()?,
        },
        Op::Put {
            key: ROOT_KEY_PATH.to_owned(),
            value: seal_blob(unseal_key, ROOT_KEY_PATH.as_bytes(), root.expose_secret())?,
        },
    ])
}

#[cfg(test)]
pub(crate) mod tests;
