//! Storage backends for the Lessor broker: one [`Backend`] trait over a sorted key/value store
//! and one [`LeaseIndex`] trait over the leases sorted by due time, both implemented by
//! [`SqliteBackend`] (the embedded default), [`PostgresBackend`] (shared storage for HA) and
//! [`MemoryBackend`] (tests and `-dev-storage=memory`). [`Storage`] is the pair: the broker opens
//! one backend as `Arc<dyn Storage>` and upcasts it to `Arc<dyn Backend>` for the barrier and to
//! `Arc<dyn LeaseIndex>` for the expiration manager. For HA, [`PostgresBackend::connect_ha`]
//! fences every write behind the leadership epoch that a [`Leadership`] takes.
//!
//! # What storage may see (architecture invariant 2)
//!
//! Nothing unencrypted reaches a backend except keys and lease index columns. The barrier sits on top of this crate and
//! seals every value with AES-256-GCM (random 96-bit nonce, the storage key as AAD) before it
//! calls [`Backend::put`] or [`Backend::apply`]. So for this crate:
//!
//! - **Keys are plain** UTF-8 paths (`sys/token/id/…`, `logical/<mount uuid>/…`). They are the
//!   only structure storage understands: listing and prefix deletion work on them, ordered
//!   bytewise. They must therefore not embed secrets; callers store hashes, never raw tokens.
//! - **Lease rows** add three plain columns the expiration manager queries by: the due time
//!   (unix milliseconds), the state, and the owner (a token hash, already an HMAC). Lease ids
//!   follow the key rules. The lease record itself is a sealed value like any other.
//! - **Values are opaque sealed bytes.** Storage never parses, compresses, logs or prints them:
//!   [`StorageError`] carries no values (and no keys), and [`Op`]'s `Debug` prints only a length.
//!
//! # Key rules, identical on every backend
//!
//! A key is a non-empty UTF-8 string of at most [`MAX_KEY_LEN`] bytes without NUL (PostgreSQL
//! `text` cannot hold NUL, and its B-tree index rejects very long entries; refusing both up
//! front keeps the three backends interchangeable). Listing uses range scans, never `LIKE`, so
//! `%` and `_` in prefixes are ordinary characters.

mod error;
mod keyspace;
mod lease;
mod memory;
mod postgres;
mod sqlite;

pub use error::StorageError;
pub use keyspace::MAX_KEY_LEN;
pub use lease::{LeaseIndex, LeaseRow, LeaseState, Storage};
pub use memory::MemoryBackend;
pub use postgres::{LeaderInfo, Leadership, NodeInfo, PostgresBackend};
pub use sqlite::SqliteBackend;

/// A sorted key/value store of opaque (already sealed) values.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Immediate children of `prefix` ("" or ending in '/'), sorted bytewise; a child that has
    /// children is returned once with a trailing '/' (Vault list semantics). A key "a" and keys
    /// under "a/" both exist → both "a" and "a/" listed. A prefix not ending in '/' is matched
    /// as a raw string prefix, as Vault's physical backends do.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// All or nothing, in order. Every key is validated before anything is written.
    async fn apply(&self, ops: &[Op]) -> Result<(), StorageError>;
    /// Deletes every key starting with `prefix`; returns how many. Used when a mount is
    /// disabled. An empty prefix is refused: wiping the whole store is never a mount operation.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError>;
}

/// One write of an atomic batch (see [`Backend::apply`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    Put { key: String, value: Vec<u8> },
    Delete { key: String },
}

impl Op {
    /// The key this operation writes.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

// Hand-written so a batch in a log line shows its shape, never megabytes of (sealed) bytes.
impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Put { key, value } => f
                .debug_struct("Put")
                .field("key", key)
                .field("value_len", &value.len())
                .finish(),
            Op::Delete { key } => f.debug_struct("Delete").field("key", key).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn op_debug_shows_length_not_bytes() {
        let op = Op::Put {
            key: "k".into(),
            value: vec![0xAB; 3],
        };
        let shown = format!("{op:?}");
        assert!(shown.contains("value_len: 3"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }
}
