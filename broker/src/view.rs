//! A barrier view: the [`MountStorage`] an engine gets, "a chroot into the barrier".
//!
//! Every key an engine uses is prefixed with its mount's storage prefix before it reaches the
//! barrier, and every value is encrypted there. An engine cannot name a key outside its
//! prefix: the prefix is prepended, never parsed out of the engine's key.

use std::sync::Arc;

use async_trait::async_trait;
use lessor_barrier::UnsealedBarrier;
use lessor_sdk::{MountStorage, StorageError, StorageOp};
use lessor_storage::Op;

#[derive(Debug, Clone)]
pub struct BarrierView {
    barrier: Arc<UnsealedBarrier>,
    prefix: String,
}

impl BarrierView {
    /// `prefix` must end with `/`.
    pub fn new(barrier: Arc<UnsealedBarrier>, prefix: impl Into<String>) -> Self {
        Self {
            barrier,
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn storage_error(error: impl std::fmt::Display) -> StorageError {
    StorageError(error.to_string())
}

#[async_trait]
impl MountStorage for BarrierView {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self
            .barrier
            .get(&self.key(key))
            .await
            .map_err(storage_error)?;
        Ok(value.map(|plaintext| plaintext.to_vec()))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.barrier
            .put(&self.key(key), value)
            .await
            .map_err(storage_error)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.barrier
            .delete(&self.key(key))
            .await
            .map_err(storage_error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.barrier
            .list(&self.key(prefix))
            .await
            .map_err(storage_error)
    }

    async fn apply(&self, ops: Vec<StorageOp>) -> Result<(), StorageError> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                StorageOp::Put { key, value } => Op::Put {
                    key: self.key(&key),
                    value,
                },
                StorageOp::Delete { key } => Op::Delete {
                    key: self.key(&key),
                },
            })
            .collect();
        self.barrier.apply(ops).await.map_err(storage_error)
    }
}
