//! The mount's HMAC key: 32 random bytes created on first use at `config/hmac-key` (inside
//! the barrier, like everything in mount storage) and held in memory afterwards, so `verify`
//! costs one storage read, not two. Keys are stored only as `HMAC-SHA-256(this key, secret)`:
//! a copy of the storage alone cannot confirm a guessed key, and keys of one mount mean
//! nothing to another.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use lessor_sdk::EngineContext;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::ApiKeyError;

pub(crate) const STORAGE_KEY: &str = "config/hmac-key";
const LEN: usize = 32;

/// An HMAC-SHA-256 digest of a key's secret part.
pub(crate) type Digest = [u8; 32];

pub(crate) struct HmacKey(Zeroizing<[u8; LEN]>);

impl HmacKey {
    fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; LEN]);
        rand::rng().fill_bytes(key.as_mut());
        Self(key)
    }

    fn from_stored(bytes: &[u8]) -> Result<Self, ApiKeyError> {
        let array: [u8; LEN] = bytes.try_into().map_err(|_| {
            ApiKeyError::Internal(format!(
                "the stored HMAC key has {} bytes, not {LEN}",
                bytes.len()
            ))
        })?;
        Ok(Self(Zeroizing::new(array)))
    }

    pub(crate) fn digest(&self, secret: &str) -> Result<Digest, ApiKeyError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .map_err(|_| ApiKeyError::Internal("HMAC rejected a 32-byte key".into()))?;
        mac.update(secret.as_bytes());
        Ok(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// The HMAC key of every mount this engine value serves, by mount path.
#[derive(Debug, Default)]
pub(crate) struct MountSecrets {
    cache: Mutex<HashMap<String, Arc<HmacKey>>>,
    /// Serialises load-or-create, so two first requests cannot create two different keys
    /// (the loser's keys would never verify).
    creation: tokio::sync::Mutex<()>,
}

impl MountSecrets {
    fn cached(&self, mount: &str) -> Option<Arc<HmacKey>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(mount)
            .cloned()
    }

    /// The mount's key, from memory, else from storage, else newly created and stored.
    pub(crate) async fn get(&self, ctx: &EngineContext) -> Result<Arc<HmacKey>, ApiKeyError> {
        if let Some(key) = self.cached(&ctx.mount_path) {
            return Ok(key);
        }
        let _creating = self.creation.lock().await;
        if let Some(key) = self.cached(&ctx.mount_path) {
            return Ok(key);
        }
        let key = match ctx.storage.get(STORAGE_KEY).await? {
            Some(bytes) => {
                let bytes = Zeroizing::new(bytes);
                HmacKey::from_stored(&bytes)?
            }
            None => {
                let key = HmacKey::generate();
                ctx.storage.put(STORAGE_KEY, key.0.as_ref()).await?;
                tracing::info!(mount = %ctx.mount_path, "created the mount's API key HMAC key");
                key
            }
        };
        let key = Arc::new(key);
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(ctx.mount_path.clone(), Arc::clone(&key));
        Ok(key)
    }

    /// Drops what is cached for the mount and loads (or creates) its key again: a mount
    /// (re)created at this path has storage of its own.
    pub(crate) async fn reload(&self, ctx: &EngineContext) -> Result<(), ApiKeyError> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&ctx.mount_path);
        self.get(ctx).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_key_and_secret() {
        let a = HmacKey::generate();
        let b = HmacKey::generate();
        assert_eq!(a.digest("s").unwrap(), a.digest("s").unwrap());
        assert_ne!(a.digest("s").unwrap(), a.digest("t").unwrap());
        assert_ne!(a.digest("s").unwrap(), b.digest("s").unwrap());
        assert_eq!(format!("{a:?}"), "HmacKey(<redacted>)");
    }

    #[test]
    fn matches_an_independent_implementation() {
        // Computed with Python's hmac module: key = 32 × 0x0b, message "Hi There".
        let key = HmacKey::from_stored(&[0x0b; 32]).unwrap();
        let digest = key.digest("Hi There").unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn rejects_a_stored_key_of_the_wrong_length() {
        assert!(HmacKey::from_stored(&[0; 31]).is_err());
    }
}
