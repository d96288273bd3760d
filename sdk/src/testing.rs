//! An in-memory [`MountStorage`] for engine unit tests. It honours the whole contract
//! (sorted one-level listing, atomic batches), so engine tests exercise real semantics; the
//! broker's integration tests cover the encrypted implementation.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::{EngineError, LeaseIntents, MountStorage, StorageError, StorageOp};

#[derive(Debug, Default)]
pub struct MemoryMountStorage {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryMountStorage {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every stored key, for tests that check what an engine persisted.
    pub fn keys(&self) -> Vec<String> {
        self.entries().keys().cloned().collect()
    }
}

#[async_trait]
impl MountStorage for MemoryMountStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.entries().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.entries().insert(key.to_string(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.entries().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut children: Vec<String> = Vec::new();
        for key in self.entries().keys() {
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            let child = match rest.find('/') {
                Some(slash) => &rest[..=slash],
                None => rest,
            };
            if children.last().map(String::as_str) != Some(child) {
                children.push(child.to_string());
            }
        }
        children.dedup();
        Ok(children)
    }

    async fn apply(&self, ops: Vec<StorageOp>) -> Result<(), StorageError> {
        let mut entries = self.entries();
        for op in ops {
            match op {
                StorageOp::Put { key, value } => {
                    entries.insert(key, value);
                }
                StorageOp::Delete { key } => {
                    entries.remove(&key);
                }
            }
        }
        Ok(())
    }
}

/// Records intents in memory, for engine unit tests that check what an engine registers
/// before creating a credential.
#[derive(Debug, Default)]
pub struct RecordingIntents {
    begun: Mutex<Vec<(String, String, serde_json::Value)>>,
}

impl RecordingIntents {
    /// Every intent begun so far: (lease id, kind, payload).
    pub fn begun(&self) -> Vec<(String, String, serde_json::Value)> {
        self.begun
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait]
impl LeaseIntents for RecordingIntents {
    async fn begin(
        &self,
        request_path: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<String, EngineError> {
        let mut begun = self
            .begun
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lease_id = format!("{request_path}/intent{}", begun.len());
        begun.push((lease_id.clone(), kind.to_string(), payload));
        Ok(lease_id)
    }
}
