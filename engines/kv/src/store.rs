//! Where KV's records live in the mount's storage, and how they are read back.
//!
//! Layout, relative to the mount (the broker encrypts every value underneath):
//!
//! | key                      | value                                        |
//! |--------------------------|----------------------------------------------|
//! | `config`                 | [`MountConfig`] (JSON)                       |
//! | `metadata/<path>`        | [`KeyMetadata`] of the secret at `<path>`    |
//! | `versions/<path>/<n>`    | [`StoredVersion`]: the data of version `<n>` |
//!
//! Metadata keys mirror the secret tree, so a LIST of `metadata/<dir>/` is a storage list of
//! that prefix. Version keys are only ever addressed by number from the metadata, never
//! listed, so `versions/a/1` (version 1 of `a`) and `versions/a/1/1` (version 1 of `a/1`)
//! cannot be confused.
//!
//! Invariant: every change that touches version data and metadata together (write, patch,
//! pruning, destroy, metadata delete) is one [`lessor_sdk::MountStorage::apply`] batch, so
//! storage never holds a version its metadata does not know, or metadata pointing at data
//! that was never written.

use lessor_sdk::{MountStorage, StorageOp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::KvError;
use crate::record::{KeyMetadata, MountConfig, StoredVersion};
use crate::secret_path::{Directory, SecretPath};

pub(crate) const CONFIG_KEY: &str = "config";
const METADATA_PREFIX: &str = "metadata/";
const VERSIONS_PREFIX: &str = "versions/";

pub(crate) fn metadata_key(path: &SecretPath) -> String {
    format!("{METADATA_PREFIX}{path}")
}

pub(crate) fn version_key(path: &SecretPath, number: u64) -> String {
    format!("{VERSIONS_PREFIX}{path}/{number}")
}

pub(crate) async fn load_config(storage: &dyn MountStorage) -> Result<MountConfig, KvError> {
    Ok(load(storage, CONFIG_KEY).await?.unwrap_or_default())
}

pub(crate) async fn load_metadata(
    storage: &dyn MountStorage,
    path: &SecretPath,
) -> Result<Option<KeyMetadata>, KvError> {
    load(storage, &metadata_key(path)).await
}

/// The data of a version the metadata says exists. Its absence is corruption, not a 404.
pub(crate) async fn load_version(
    storage: &dyn MountStorage,
    path: &SecretPath,
    number: u64,
) -> Result<StoredVersion, KvError> {
    let key = version_key(path, number);
    load(storage, &key).await?.ok_or_else(|| {
        KvError::Internal(format!("data of version {number} of {path:?} is missing"))
    })
}

/// The immediate children of a directory in the secret tree; subdirectories end with `/`.
pub(crate) async fn list(
    storage: &dyn MountStorage,
    directory: &Directory,
) -> Result<Vec<String>, KvError> {
    Ok(storage
        .list(&format!("{METADATA_PREFIX}{}", directory.as_str()))
        .await?)
}

pub(crate) fn put_op<T: Serialize>(key: String, value: &T) -> Result<StorageOp, KvError> {
    let value = serde_json::to_vec(value).map_err(|error| {
        KvError::Internal(format!("record for {key:?} does not serialize: {error}"))
    })?;
    Ok(StorageOp::Put { key, value })
}

pub(crate) fn delete_op(key: String) -> StorageOp {
    StorageOp::Delete { key }
}

/// Reads and decodes one record. A decode failure reports only where and what kind of error:
/// serde's message can quote the stored value, and version data is secret.
async fn load<T: DeserializeOwned>(
    storage: &dyn MountStorage,
    key: &str,
) -> Result<Option<T>, KvError> {
    let Some(bytes) = storage.get(key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|error| {
        KvError::Internal(format!(
            "stored record at {key:?} is corrupt ({:?} error at line {}, column {})",
            error.classify(),
            error.line(),
            error.column()
        ))
    })
}
