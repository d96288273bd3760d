//! The in-memory backend: a `BTreeMap` behind a lock, and the lease index beside it in
//! [`leases`]. Used by tests and `-dev-storage=memory`; everything is lost when the process exits.

mod leases;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::keyspace::{self, LIST_BATCH};
use crate::{Backend, Op, StorageError};

/// A [`Backend`] and [`LeaseIndex`](crate::LeaseIndex) kept in process memory.
#[derive(Default)]
pub struct MemoryBackend {
    entries: RwLock<BTreeMap<String, Vec<u8>>>,
    leases: leases::LeaseTable,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while the lock is held cannot leave the map half-updated (every mutation is a
    // single map call after validation), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn range_keys(&self, lower: &str, upper: Option<&str>, limit: usize) -> Vec<String> {
        let upper = upper.map_or(Bound::Unbounded, Bound::Excluded);
        self.read()
            .range::<str, _>((Bound::Included(lower), upper))
            .take(limit)
            .map(|(key, _)| key.clone())
            .collect()
    }
}

// Only the size: the values are sealed, but there is no reason to print them either.
impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("entries", &self.read().len())
            .field("leases", &self.leases.len())
            .finish()
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        keyspace::validate_key(key)?;
        Ok(self.read().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        self.write().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        self.write().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let upper = keyspace::upper_bound(prefix);
        keyspace::list_children(prefix, LIST_BATCH, |lower| {
            let keys = self.range_keys(&lower, upper.as_deref(), LIST_BATCH);
            async move { Ok(keys) }
        })
        .await
    }

    async fn apply(&self, ops: &[Op]) -> Result<(), StorageError> {
        keyspace::validate_ops(ops)?;
        // One write guard for the whole batch: readers see all of it or none of it.
        let mut entries = self.write();
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    entries.insert(key.clone(), value.clone());
                }
                Op::Delete { key } => {
                    entries.remove(key);
                }
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        keyspace::validate_delete_prefix(prefix)?;
        let mut entries = self.write();
        // Split off everything from the prefix on, then give back what lies past its range.
        let mut tail = entries.split_off(prefix);
        if let Some(upper) = keyspace::upper_bound(prefix) {
            let mut rest = tail.split_off(upper.as_str());
            entries.append(&mut rest);
        }
        Ok(u64::try_from(tail.len()).unwrap_or(u64::MAX))
    }
}
