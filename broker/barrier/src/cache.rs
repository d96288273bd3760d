//! A read cache of sealed values in front of a storage backend (Vault's "physical cache"):
//! a hot token entry, policy, role, key or lease record costs a decryption, not a storage
//! round trip. The barrier keeps one for its keyspace; the expiration manager keeps one for
//! the lease index.
//!
//! What it holds is ciphertext exactly as stored, so it keeps no plaintext in memory beyond
//! what a read already does, and every hit is authenticated again by the decryption. Only
//! values that decrypted are cached, so a corrupt or tampered row is never served from here.
//!
//! Consistency rests on its owner being the only writer of what it caches, which holds for
//! one unsealed term of one active broker (each cache lives inside an [`UnsealedBarrier`] or
//! an expiration manager and dies with it at seal or step-down):
//! - every write invalidates its keys *after* the backend call returns (also when it failed,
//!   since a failed call may still have committed), or, when the writer holds the key
//!   exclusively, replaces the entry with what it wrote ([`ReadCache::replace`]);
//! - a read that missed notes its key's generation before going to the backend and fills the
//!   cache only if no write to that key (stripe) happened since, so a read racing a write can
//!   never put the old value back after the write's invalidation.
//!
//! Bounded by entries and by bytes, least recently used first out; values above
//! [`MAX_VALUE_BYTES`] are never cached.
//!
//! [`UnsealedBarrier`]: crate::UnsealedBarrier

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hashlink::LruCache;

/// Larger values (big KV secrets) are read from storage every time.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Generation counters are kept per stripe of keys, not per key, so memory stays fixed; a
/// write to one key only delays caching of the few others in its stripe.
const STRIPES: usize = 256;

/// How large the read cache may grow. `max_entries == 0` disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl CacheLimits {
    pub const DISABLED: Self = Self {
        max_entries: 0,
        max_bytes: 0,
    };
}

impl Default for CacheLimits {
    /// Room for the hot set of a busy broker (tokens, policies, roles, key records) in a few
    /// tens of megabytes at most.
    fn default() -> Self {
        Self {
            max_entries: 65_536,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

pub struct ReadCache {
    limits: CacheLimits,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<String, Arc<[u8]>>,
    bytes: usize,
    generations: [u64; STRIPES],
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner();
        f.debug_struct("ReadCache")
            .field("limits", &self.limits)
            .field("entries", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl ReadCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner {
                entries: LruCache::new_unbounded(),
                bytes: 0,
                generations: [0; STRIPES],
            }),
        }
    }

    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    fn enabled(&self) -> bool {
        self.limits.max_entries > 0 && self.limits.max_bytes > 0
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached sealed value of `key`, marking it recently used.
    pub fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        if !self.enabled() {
            return None;
        }
        self.inner().entries.get(key).cloned()
    }

    /// To be taken before reading `key` from the backend and handed to [`Self::fill`].
    pub fn generation(&self, key: &str) -> u64 {
        if !self.enabled() {
            return 0;
        }
        self.inner().generations[stripe(key)]
    }

    /// Caches what a read of `key` found, unless `key` was written since `seen` was taken.
    pub fn fill(&self, key: &str, sealed: Vec<u8>, seen: u64) {
        if !self.enabled() || sealed.len() > MAX_VALUE_BYTES {
            return;
        }
        let mut inner = self.inner();
        if inner.generations[stripe(key)] != seen {
            return;
        }
        self.insert(&mut inner, key, sealed);
    }

    fn insert(&self, inner: &mut Inner, key: &str, sealed: Vec<u8>) {
        let sealed: Arc<[u8]> = sealed.into();
        let added = sealed.len();
        if let Some(replaced) = inner.entries.insert(key.to_owned(), sealed) {
            inner.bytes -= replaced.len();
        }
        inner.bytes += added;
        while inner.entries.len() > self.limits.max_entries || inner.bytes > self.limits.max_bytes {
            match inner.entries.remove_lru() {
                Some((_, evicted)) => inner.bytes -= evicted.len(),
                None => break,
            }
        }
    }

    /// Caches what a successful write put at `key`. Only for a writer that holds `key`
    /// exclusively (no other write to it can be in flight), so no older value can land after
    /// this one; any read of `key` that missed before now will not fill.
    pub fn replace(&self, key: &str, sealed: Vec<u8>) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.inner();
        let stripe = stripe(key);
        inner.generations[stripe] = inner.generations[stripe].wrapping_add(1);
        if sealed.len() > MAX_VALUE_BYTES {
            if let Some(removed) = inner.entries.remove(key) {
                inner.bytes -= removed.len();
            }
            return;
        }
        self.insert(&mut inner, key, sealed);
    }

    /// Forgets `key` after a write to it.
    pub fn invalidate(&self, key: &str) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.inner();
        let stripe = stripe(key);
        inner.generations[stripe] = inner.generations[stripe].wrapping_add(1);
        if let Some(removed) = inner.entries.remove(key) {
            inner.bytes -= removed.len();
        }
    }

    /// Forgets everything (prefix deletes, seal).
    pub fn clear(&self) {
        let mut inner = self.inner();
        for generation in &mut inner.generations {
            *generation = generation.wrapping_add(1);
        }
        inner.entries.clear();
        inner.bytes = 0;
    }

    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, usize) {
        let inner = self.inner();
        (inner.entries.len(), inner.bytes)
    }
}

/// FNV-1a: cheap, stable, and good enough to spread keys over stripes.
fn stripe(key: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(len: usize) -> Vec<u8> {
        vec![7u8; len]
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_fill() {
        let cache = ReadCache::new(CacheLimits::default());
        let seen = cache.generation("kv/a");
        cache.invalidate("kv/a");
        cache.fill("kv/a", value(10), seen);
        assert!(cache.get("kv/a").is_none());

        let seen = cache.generation("kv/a");
        cache.fill("kv/a", value(10), seen);
        assert!(cache.get("kv/a").is_some());
        cache.invalidate("kv/a");
        assert!(cache.get("kv/a").is_none());
    }

    #[test]
    fn bounded_by_entries_and_bytes_oldest_out() {
        let cache = ReadCache::new(CacheLimits {
            max_entries: 3,
            max_bytes: 100,
        });
        for key in ["a", "b", "c"] {
            cache.fill(key, value(10), cache.generation(key));
        }
        // Touch "a" so "b" is the least recently used.
        assert!(cache.get("a").is_some());
        cache.fill("d", value(10), cache.generation("d"));
        assert!(cache.get("b").is_none());
        assert_eq!(cache.usage(), (3, 30));

        cache.fill("big", value(90), cache.generation("big"));
        assert!(cache.get("big").is_some());
        assert!(cache.usage().1 <= 100, "{:?}", cache.usage());

        cache.fill("huge", value(MAX_VALUE_BYTES + 1), cache.generation("huge"));
        assert!(cache.get("huge").is_none());
    }

    #[test]
    fn clear_forgets_everything_and_blocks_racing_fills() {
        let cache = ReadCache::new(CacheLimits::default());
        cache.fill("x", value(4), cache.generation("x"));
        let seen = cache.generation("y");
        cache.clear();
        cache.fill("y", value(4), seen);
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn a_write_through_replaces_and_blocks_older_reads() {
        let cache = ReadCache::new(CacheLimits::default());
        let seen = cache.generation("leases/a");
        cache.replace("leases/a", value(5));
        assert_eq!(cache.get("leases/a").as_deref(), Some(&value(5)[..]));
        // A read that began before the write found the old value: it must not fill.
        cache.fill("leases/a", value(3), seen);
        assert_eq!(cache.get("leases/a").as_deref(), Some(&value(5)[..]));
        assert_eq!(cache.usage(), (1, 5));

        // A value too large to cache drops the old one instead of leaving it behind.
        cache.replace("leases/a", value(MAX_VALUE_BYTES + 1));
        assert!(cache.get("leases/a").is_none());
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn disabled_holds_nothing() {
        let cache = ReadCache::new(CacheLimits::DISABLED);
        cache.fill("x", value(4), cache.generation("x"));
        assert!(cache.get("x").is_none());
    }
}
