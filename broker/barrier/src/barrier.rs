//! The sealed barrier handle and the storage layout it protects. While sealed the broker can
//! only ask whether a keyring exists, create one, or unseal with the root key.

use std::sync::Arc;

use lessor_storage::{Backend, Op};
use time::OffsetDateTime;

use crate::blob::{open_blob, seal_blob};
use crate::cache::CacheLimits;
use crate::keyring::Keyring;
use crate::unsealed::UnsealedBarrier;
use crate::{BarrierError, RootKey};

/// Where the keyring lives, sealed with the root key (AAD = this path).
pub const KEYRING_PATH: &str = "core/keyring";
/// Where the seal keeps the root key, sealed with the unseal key.
pub const ROOT_KEY_PATH: &str = "core/root-key";
/// Where the seal keeps its (non-secret) share configuration.
pub const SEAL_CONFIG_PATH: &str = "core/seal-config";

/// These keys are written by the barrier and seal themselves, outside the keyring. Barrier
/// callers must not be able to overwrite or delete them: losing any one loses all data.
pub(crate) const RESERVED: [&str; 3] = [KEYRING_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH];

/// Whether `key` is one of the seal's and keyring's own storage keys.
#[must_use]
pub fn is_reserved(key: &str) -> bool {
    RESERVED.contains(&key)
}

/// The sealed barrier: no keys in memory, only the backend.
#[derive(Debug, Clone)]
pub struct Barrier {
    backend: Arc<dyn Backend>,
    cache_limits: CacheLimits,
}

impl Barrier {
    /// A barrier whose unsealed form caches reads within [`CacheLimits::default`].
    #[must_use]
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            cache_limits: CacheLimits::default(),
        }
    }

    /// Sets the size of the read cache each unseal starts (empty) with.
    #[must_use]
    pub fn with_cache_limits(mut self, limits: CacheLimits) -> Self {
        self.cache_limits = limits;
        self
    }

    /// The raw backend, for the seal's own records (which are not keyring-encrypted).
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Whether a keyring has been stored.
    pub async fn is_initialized(&self) -> Result<bool, BarrierError> {
        Ok(self.backend.get(KEYRING_PATH).await?.is_some())
    }

    /// Creates the keyring (term 1) sealed under `root`.
    pub async fn initialize(
        &self,
        root: &RootKey,
        now: OffsetDateTime,
    ) -> Result<(), BarrierError> {
        self.initialize_with(root, now, Vec::new()).await
    }

    /// Creates the keyring and applies `extra` raw operations in the same atomic batch, so the
    /// seal's records and the keyring exist together or not at all.
    pub async fn initialize_with(
        &self,
        root: &RootKey,
        now: OffsetDateTime,
        mut extra: Vec<Op>,
    ) -> Result<(), BarrierError> {
        if self.is_initialized().await? {
            return Err(BarrierError::AlreadyInitialized);
        }
        let keyring = Keyring::new(now);
        let sealed = seal_blob(root.aead_key(), KEYRING_PATH.as_bytes(), &keyring.encode())?;
        extra.push(Op::Put {
            key: KEYRING_PATH.to_owned(),
            value: sealed,
        });
        self.backend.apply(&extra).await?;
        tracing::info!("barrier initialized with key term 1");
        Ok(())
    }

    /// Opens the keyring with `root`. A wrong root key fails AEAD authentication and yields
    /// [`BarrierError::InvalidRootKey`].
    pub async fn unseal(&self, root: &RootKey) -> Result<Arc<UnsealedBarrier>, BarrierError> {
        let keyring = read_keyring(self.backend.as_ref(), root).await?;
        Ok(Arc::new(UnsealedBarrier::new(
            Arc::clone(&self.backend),
            root.clone(),
            keyring,
            self.cache_limits,
        )))
    }
}

/// The keyring as stored now, opened with `root`.
pub(crate) async fn read_keyring(
    backend: &dyn Backend,
    root: &RootKey,
) -> Result<Keyring, BarrierError> {
    let stored = backend
        .get(KEYRING_PATH)
        .await?
        .ok_or(BarrierError::NotInitialized)?;
    let encoded = match open_blob(root.aead_key(), KEYRING_PATH.as_bytes(), &stored) {
        Ok(encoded) => encoded,
        Err(BarrierError::Integrity) => return Err(BarrierError::InvalidRootKey),
        Err(other) => return Err(other),
    };
    Keyring::decode(&encoded)
}
