//! A user as stored in the mount: the argon2id PHC hash of the password and the token
//! settings. The password itself is never part of the record.

use std::fmt;

use lessor_sdk::{EngineError, MountStorage, MountStorageExt};
use serde::{Deserialize, Serialize};

use crate::token_settings::TokenSettings;
use crate::username::{USER_PREFIX, Username};

/// The record at `user/<username>`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct UserEntry {
    /// argon2id PHC string: algorithm, version, parameters, salt and hash.
    pub password_hash: String,
    pub token: TokenSettings,
}

// The hash is not the password, but it is what an offline cracker wants: keep it out of logs.
impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserEntry")
            .field("password_hash", &"<redacted>")
            .field("token", &self.token)
            .finish()
    }
}

pub(crate) async fn load(
    storage: &dyn MountStorage,
    username: &Username,
) -> Result<Option<UserEntry>, EngineError> {
    Ok(storage.get_json(&username.storage_key()).await?)
}

pub(crate) async fn save(
    storage: &dyn MountStorage,
    username: &Username,
    entry: &UserEntry,
) -> Result<(), EngineError> {
    Ok(storage.put_json(&username.storage_key(), entry).await?)
}

pub(crate) async fn delete(
    storage: &dyn MountStorage,
    username: &Username,
) -> Result<(), EngineError> {
    Ok(storage.delete(&username.storage_key()).await?)
}

/// Every username, sorted. Names never contain `/`, so there are no sub-prefixes.
pub(crate) async fn list(storage: &dyn MountStorage) -> Result<Vec<String>, EngineError> {
    Ok(storage
        .list(USER_PREFIX)
        .await?
        .into_iter()
        .filter(|name| !name.ends_with('/'))
        .collect())
}
