//! The unsealed barrier: plaintext in, ciphertext to the backend, and back.
//!
//! Keys live in `RwLock<Option<Keys>>`. Encryption and decryption take the read lock only for
//! the CPU work, never across a storage call, so readers and writers never wait on each other;
//! only `rotate` (to swap in the persisted keyring) and `seal` (to wipe it) take the write lock.
//! `seal` drops the keys in place, so every `Arc<UnsealedBarrier>` still held by an in-flight
//! request fails with [`BarrierError::Sealed`] from then on.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use lessor_storage::{Backend, Op};
use time::OffsetDateTime;

use crate::barrier::{KEYRING_PATH, RESERVED, is_reserved, read_keyring};
use crate::blob::{decrypt, seal_blob, seal_value, value_term};
use crate::cache::{CacheLimits, ReadCache};
use crate::keyring::{KeyStatus, Keyring};
use crate::{BarrierError, RootKey};

/// The root key travels with the keyring because `rotate` must re-seal the keyring under it.
struct Keys {
    root: RootKey,
    keyring: Keyring,
}

/// A barrier whose keyring is in memory. Obtain one from [`crate::Barrier::unseal`].
pub struct UnsealedBarrier {
    backend: Arc<dyn Backend>,
    keys: RwLock<Option<Keys>>,
    /// Sealed values recently read; see `cache` for why it is consistent.
    cache: ReadCache,
    /// Serializes rotations so two of them cannot both persist term N+1.
    rotation: tokio::sync::Mutex<()>,
}

impl UnsealedBarrier {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        root: RootKey,
        keyring: Keyring,
        cache_limits: CacheLimits,
    ) -> Self {
        Self {
            backend,
            keys: RwLock::new(Some(Keys { root, keyring })),
            cache: ReadCache::new(cache_limits),
            rotation: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether [`seal`](Self::seal) has been called on this barrier.
    #[must_use]
    pub fn is_sealed(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Reads and decrypts the value at `key`, from the read cache when it holds it.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BarrierError> {
        check_key(key)?;
        self.ensure_unsealed()?;
        if let Some(sealed) = self.cache.get(key) {
            return self.open(key, &sealed).map(Some);
        }
        let seen = self.cache.generation(key);
        let Some(stored) = self.backend.get(key).await? else {
            return Ok(None);
        };
        let plaintext = self.open(key, &stored)?;
        // Only what authenticated is cached: a tampered row is never served from memory.
        self.cache.fill(key, stored, seen);
        Ok(Some(plaintext))
    }

    fn open(&self, key: &str, stored: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let (term, body) = value_term(stored)?;
        let mut plaintext =
            self.with_keys(|keys| decrypt(keys.keyring.key(term)?, key.as_bytes(), body))?;
        // Move the buffer out rather than copying it, leaving nothing behind to zeroize.
        Ok(std::mem::take(&mut *plaintext))
    }

    /// Encrypts `value` under the active term and stores it at `key`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), BarrierError> {
        check_key(key)?;
        let sealed = self.encrypt(key, value)?;
        let result = self.backend.put(key, &sealed).await;
        // Also after a failure: the write may have committed before the error.
        self.cache.invalidate(key);
        result?;
        Ok(())
    }

    /// Deletes `key`; deleting a missing key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BarrierError> {
        check_key(key)?;
        self.ensure_unsealed()?;
        let result = self.backend.delete(key).await;
        self.cache.invalidate(key);
        result?;
        Ok(())
    }

    /// The immediate children of `prefix`. Keys are stored in the clear by design.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        self.ensure_unsealed()?;
        Ok(self.backend.list(prefix).await?)
    }

    /// Encrypts every put and applies the batch atomically.
    pub async fn apply(&self, ops: Vec<Op>) -> Result<(), BarrierError> {
        let mut sealed = Vec::with_capacity(ops.len());
        for op in ops {
            sealed.push(match op {
                Op::Put { key, value } => {
                    check_key(&key)?;
                    let value = self.encrypt(&key, &value)?;
                    Op::Put { key, value }
                }
                Op::Delete { key } => {
                    check_key(&key)?;
                    self.ensure_unsealed()?;
                    Op::Delete { key }
                }
            });
        }
        let result = self.backend.apply(&sealed).await;
        for op in &sealed {
            self.cache.invalidate(op.key());
        }
        result?;
        Ok(())
    }

    /// Deletes everything under `prefix`; returns how many keys went.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, BarrierError> {
        if RESERVED.iter().any(|reserved| reserved.starts_with(prefix)) {
            return Err(BarrierError::Reserved(prefix.to_owned()));
        }
        self.ensure_unsealed()?;
        let result = self.backend.delete_prefix(prefix).await;
        self.cache.clear();
        Ok(result?)
    }

    /// Adds key term N+1 and makes it the one new writes use. The new keyring is persisted
    /// before it is installed in memory, so no value is ever written under a term that a
    /// later unseal could not find. Old terms stay and keep decrypting old values.
    pub async fn rotate(&self, now: OffsetDateTime) -> Result<KeyStatus, BarrierError> {
        let _one_rotation_at_a_time = self.rotation.lock().await;
        let (next, sealed) = self.with_keys(|keys| {
            let next = keys.keyring.rotated(now)?;
            let sealed = seal_blob(
                keys.root.aead_key(),
                KEYRING_PATH.as_bytes(),
                &next.encode(),
            )?;
            Ok((next, sealed))
        })?;
        self.backend.put(KEYRING_PATH, &sealed).await?;
        let mut guard = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let keys = guard.as_mut().ok_or(BarrierError::Sealed)?;
        keys.keyring = next;
        let status = keys.keyring.status()?;
        drop(guard);
        tracing::info!(term = status.term, "barrier key rotated");
        Ok(status)
    }

    /// A new unsealed barrier over the same backend and root key, with the keyring as storage
    /// holds it now and an empty read cache. For a node that stood by while another one wrote:
    /// that one may have rotated the keyring and changed anything this one has cached.
    pub async fn reopen(&self) -> Result<Arc<UnsealedBarrier>, BarrierError> {
        let root = self.with_keys(|keys| Ok(keys.root.clone()))?;
        let keyring = read_keyring(self.backend.as_ref(), &root).await?;
        Ok(Arc::new(Self::new(
            Arc::clone(&self.backend),
            root,
            keyring,
            self.cache.limits(),
        )))
    }

    /// The active key term and its install time.
    pub fn key_status(&self) -> Result<KeyStatus, BarrierError> {
        self.with_keys(|keys| keys.keyring.status())
    }

    /// Wipes the root key and keyring from memory (they zeroize on drop). Every later call on
    /// this barrier, through any clone of its `Arc`, fails with [`BarrierError::Sealed`].
    pub fn seal(&self) {
        let wiped = self
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(wiped);
        self.cache.clear();
        tracing::info!("barrier sealed");
    }

    /// Encrypts a record stored outside the key/value table (e.g. the lease index), bound to
    /// `domain` and `id`. The AAD starts with a NUL byte, which no storage key may contain, so
    /// a record can never be swapped with a key/value entry or with a record of another id.
    pub fn seal_record(
        &self,
        domain: &str,
        id: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, BarrierError> {
        let aad = record_aad(domain, id);
        self.with_keys(|keys| {
            let (term, data_key) = keys.keyring.active()?;
            seal_value(term, data_key, &aad, plaintext)
        })
    }

    /// Decrypts a record sealed by [`seal_record`](Self::seal_record) for the same domain and id.
    pub fn open_record(
        &self,
        domain: &str,
        id: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, BarrierError> {
        let aad = record_aad(domain, id);
        let (term, body) = value_term(sealed)?;
        self.with_keys(|keys| decrypt(keys.keyring.key(term)?, &aad, body))
    }

    fn encrypt(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, BarrierError> {
        self.with_keys(|keys| {
            let (term, data_key) = keys.keyring.active()?;
            seal_value(term, data_key, key.as_bytes(), value)
        })
    }

    fn ensure_unsealed(&self) -> Result<(), BarrierError> {
        self.with_keys(|_| Ok(()))
    }

    fn with_keys<T>(
        &self,
        work: impl FnOnce(&Keys) -> Result<T, BarrierError>,
    ) -> Result<T, BarrierError> {
        let guard = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        work(guard.as_ref().ok_or(BarrierError::Sealed)?)
    }
}

fn record_aad(domain: &str, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(domain.len() + id.len() + 2);
    aad.push(0);
    aad.extend_from_slice(domain.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn check_key(key: &str) -> Result<(), BarrierError> {
    if is_reserved(key) {
        return Err(BarrierError::Reserved(key.to_owned()));
    }
    Ok(())
}

impl fmt::Debug for UnsealedBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealedBarrier")
            .field("backend", &self.backend)
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
