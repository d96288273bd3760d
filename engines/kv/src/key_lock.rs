//! Serialises read-modify-write cycles on one key.
//!
//! A write reads the metadata, checks `cas`, and writes the next version; two writers racing
//! through that cycle would both pass a `cas` check and one version would overwrite the other.
//! Vault holds a per-key lock for the same reason. A fixed set of async mutexes, picked by a
//! hash of mount and path, gives that without a map that grows with every key; unrelated keys
//! rarely share a stripe, and sharing one only costs a little waiting.

use std::hash::{DefaultHasher, Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 64;

#[derive(Debug)]
pub(crate) struct KeyLocks {
    stripes: [Mutex<()>; STRIPES],
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

impl KeyLocks {
    /// Holds the lock for `key` of the mount at `mount` until the guard drops. One engine
    /// value may serve several mounts, hence the mount in the hash.
    pub(crate) async fn lock(&self, mount: &str, key: &str) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        (mount, key).hash(&mut hasher);
        // The modulo keeps the value below STRIPES, so the narrowing cannot lose anything.
        #[allow(clippy::cast_possible_truncation)]
        let index = (hasher.finish() % STRIPES as u64) as usize;
        self.stripes[index].lock().await
    }
}
