//! Rekey (`sys/rekey/init|update|cancel`): new shares for the same root key. T of the
//! *current* shares authorize it; the root key is re-sealed under a fresh unseal key and the
//! new config and root-key record replace the old ones in one atomic write. Data is untouched
//! because the root key and keyring do not change.

use std::fmt;

use lessor_barrier::AeadKey;

use crate::manager::{Collected, SealManager, Submission, seal_records, split_verified};
use crate::{SealConfig, SealError, Share};

/// A rekey under way: the requested new configuration and the current shares collected.
#[derive(Debug)]
pub(crate) struct RekeyProgress {
    new_config: SealConfig,
    collected: Collected,
}

/// What `sys/rekey/init` and `GET sys/rekey/init` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeyStatus {
    /// Id of the rekey operation; every update must quote it. Empty when none is started.
    pub nonce: String,
    pub started: bool,
    /// The new threshold.
    pub t: u8,
    /// The new number of shares.
    pub n: u8,
    /// Current shares submitted so far.
    pub progress: u8,
    /// Current shares required (the current threshold).
    pub required: u8,
}

/// A completed rekey: the new shares, shown once.
pub struct RekeyResult {
    pub nonce: String,
    pub config: SealConfig,
    pub shares: Vec<Share>,
}

impl fmt::Debug for RekeyResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RekeyResult")
            .field("nonce", &self.nonce)
            .field("config", &self.config)
            .field("shares", &self.shares.len())
            .finish()
    }
}

/// The outcome of one `sys/rekey/update` submission.
#[derive(Debug)]
pub enum RekeyStep {
    Progress { progress: u8, required: u8 },
    Complete(RekeyResult),
}

impl SealManager {
    /// Starts a rekey to `secret_shares`/`secret_threshold`. Refused while another is under way.
    pub async fn rekey_init(
        &self,
        secret_shares: u8,
        secret_threshold: u8,
    ) -> Result<RekeyStatus, SealError> {
        let new_config = SealConfig::new(secret_shares, secret_threshold)?;
        let mut progress = self.progress.lock().await;
        let current = self.load_config().await?.ok_or(SealError::NotInitialized)?;
        if progress.rekey.is_some() {
            return Err(SealError::RekeyInProgress);
        }
        let rekey = progress.rekey.insert(RekeyProgress {
            new_config,
            collected: Collected::new(),
        });
        Ok(status_of(Some(rekey), current))
    }

    pub async fn rekey_status(&self) -> Result<RekeyStatus, SealError> {
        let progress = self.progress.lock().await;
        let current = self.load_config().await?.ok_or(SealError::NotInitialized)?;
        Ok(status_of(progress.rekey.as_ref(), current))
    }

    /// Abandons the rekey under way, if any; the current shares stay valid.
    pub async fn rekey_cancel(&self) {
        self.progress.lock().await.rekey = None;
    }

    /// Submits one *current* share to the rekey identified by `nonce`. When the current
    /// threshold is met the shares are verified by decrypting the root key; a wrong
    /// combination resets the collected shares (the rekey itself stays open).
    pub async fn rekey_update(&self, share: &[u8], nonce: &str) -> Result<RekeyStep, SealError> {
        let share = Share::from_bytes(share)?;
        let mut progress = self.progress.lock().await;
        let current = self.load_config().await?.ok_or(SealError::NotInitialized)?;
        let rekey = progress.rekey.as_mut().ok_or(SealError::NoRekey)?;
        if rekey.collected.nonce != nonce {
            return Err(SealError::RekeyNonce);
        }
        match rekey.collected.add(share) {
            Submission::Duplicate | Submission::Accepted => {}
            Submission::Conflict => {
                rekey.collected.shares.clear();
                return Err(SealError::InvalidKey);
            }
        }
        if rekey.collected.progress() < current.secret_threshold {
            return Ok(RekeyStep::Progress {
                progress: rekey.collected.progress(),
                required: current.secret_threshold,
            });
        }
        let shares = std::mem::take(&mut rekey.collected.shares);
        let new_config = rekey.new_config;
        let root = self.recover_root_key(current, &shares).await?;

        let unseal_key = AeadKey::generate();
        let new_shares = split_verified(&unseal_key, new_config)?;
        let records = seal_records(new_config, &unseal_key, &root)?;
        self.barrier().backend().apply(&records).await?;

        let nonce = nonce.to_owned();
        progress.rekey = None;
        // Shares gathered toward an unseal belong to the old split and can no longer combine.
        progress.unseal = None;
        tracing::info!(
            shares = new_config.secret_shares,
            threshold = new_config.secret_threshold,
            "rekey complete"
        );
        Ok(RekeyStep::Complete(RekeyResult {
            nonce,
            config: new_config,
            shares: new_shares,
        }))
    }
}

fn status_of(rekey: Option<&RekeyProgress>, current: SealConfig) -> RekeyStatus {
    match rekey {
        Some(rekey) => RekeyStatus {
            nonce: rekey.collected.nonce.clone(),
            started: true,
            t: rekey.new_config.secret_threshold,
            n: rekey.new_config.secret_shares,
            progress: rekey.collected.progress(),
            required: current.secret_threshold,
        },
        None => RekeyStatus {
            nonce: String::new(),
            started: false,
            t: 0,
            n: 0,
            progress: 0,
            required: current.secret_threshold,
        },
    }
}

#[cfg(test)]
mod tests;
