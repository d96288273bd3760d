//! Per-volume state on the node's disk, so a restarted driver resumes renewing and can still
//! revoke on a later unpublish.
//!
//! One JSON file per volume under `<state-dir>/volumes/`, mode 0600 in a 0700 directory,
//! replaced atomically (write a temporary file, then rename). A record names the target
//! path, the broker, the volume's spec, the token's *accessor* and the lease ids with their
//! times; never a token, a JWT or a secret value (the token itself lives on the target's
//! tmpfs, see `files`).

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::attributes::{PodInfo, VolumeSpec};
use crate::files::{self, Backing};

/// What the driver knows about one published volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub volume_id: String,
    pub target_path: PathBuf,
    /// The broker address in use (the `address` attribute or the driver's default).
    pub address: String,
    pub spec: VolumeSpec,
    pub pod: PodInfo,
    pub backing: Backing,
    pub token: Option<TokenRecord>,
    /// By object path.
    pub leases: BTreeMap<String, LeaseRecord>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_renewal: Option<OffsetDateTime>,
    /// Bumped on every rewrite of the files.
    pub generation: u64,
}

/// How long something granted with a TTL lasts: the token's and every lease's bookkeeping.
/// Flattened into the records, so the file holds these fields directly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Term {
    /// The TTL first granted: renewals ask for it again.
    pub ttl: u64,
    pub renewable: bool,
    /// The last renewal got less than `ttl`: a max TTL is near.
    pub capped: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub renewed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The volume's broker token, by accessor. The token is a secret and is not here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub accessor: String,
    #[serde(flatten)]
    pub term: Term,
}

/// One object's current lease. Objects without a lease (static secrets such as KV) have a
/// record with an empty `lease_id` and are read again only when the token is replaced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub lease_id: String,
    #[serde(flatten)]
    pub term: Term,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// Bumped at every re-mint: the object's version in provider mode.
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("volume state {path}: {source}")]
pub struct StateError {
    path: PathBuf,
    source: std::io::Error,
}

#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn open(state_dir: &Path) -> Result<Self, StateError> {
        let dir = state_dir.join("volumes");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| StateError {
                path: dir.clone(),
                source,
            })?;
        Ok(Self { dir })
    }

    /// Volume ids are chosen by the CO; the file name is their hash, so no id can name a
    /// path outside the directory.
    fn path(&self, volume_id: &str) -> PathBuf {
        self.dir.join(format!(
            "{}.json",
            hex::encode(Sha256::digest(volume_id.as_bytes()))
        ))
    }

    pub fn save(&self, record: &VolumeRecord) -> Result<(), StateError> {
        let path = self.path(&record.volume_id);
        let failed = |source| StateError {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| failed(e.into()))?;
        files::replace_private(&path, &bytes).map_err(failed)
    }

    pub fn remove(&self, volume_id: &str) -> Result<(), StateError> {
        let path = self.path(volume_id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError { path, source }),
        }
    }

    /// Every readable record; unreadable files are logged and skipped, not fatal, so one
    /// damaged file cannot stop the driver from serving the other volumes.
    pub fn load_all(&self) -> Result<Vec<VolumeRecord>, StateError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| StateError {
            path: self.dir.clone(),
            source,
        })?;
        let mut records = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "skipping unreadable volume state")
                }
            }
        }
        Ok(records)
    }
}
