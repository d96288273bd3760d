//! A mount's view of the encrypted store: "a chroot into the barrier". Keys are relative to
//! the mount; the broker prefixes them, encrypts values underneath, and never lets one mount
//! see another's data.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StorageError;

/// One write of an atomic batch.
#[derive(Debug, Clone)]
pub enum StorageOp {
    Put { key: String, value: Vec<u8> },
    Delete { key: String },
}

/// Prefix-scoped, encrypted key/value storage for one mount.
#[async_trait]
pub trait MountStorage: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The immediate children of `prefix` (which is empty or ends with `/`), sorted. Children
    /// that have children of their own are returned once, with a trailing `/`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Applies every operation or none of them.
    async fn apply(&self, ops: Vec<StorageOp>) -> Result<(), StorageError>;
}

/// JSON convenience over [`MountStorage`].
#[async_trait]
pub trait MountStorageExt: MountStorage {
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
                StorageError(format!("stored value at {key:?} is corrupt: {error}"))
            }),
        }
    }

    async fn put_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|error| {
            StorageError(format!("value for {key:?} does not serialize: {error}"))
        })?;
        self.put(key, &bytes).await
    }
}

impl<S: MountStorage + ?Sized> MountStorageExt for S {}
