//! The engine's own failure kinds, and their one mapping onto the SDK's boundary kinds.
//!
//! Messages name fields and paths, never values: a KV request body *is* secret material, so
//! nothing here quotes what the client sent or what storage holds.

use lessor_sdk::{EngineError, StorageError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum KvError {
    /// A malformed request: bad path, bad field, wrong type.
    #[error("{0}")]
    Invalid(String),
    /// Vault's wording, kept so clients that match on it keep working.
    #[error("check-and-set parameter did not match the current version")]
    CasMismatch,
    #[error("check-and-set parameter required for this call")]
    CasRequired,
    /// No secret, no such version, or the version is deleted or destroyed.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record does not decode, or a timestamp does not format.
    #[error("internal error: {0}")]
    Internal(String),
}

impl KvError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        KvError::Invalid(message.into())
    }
}

impl From<KvError> for EngineError {
    fn from(error: KvError) -> Self {
        match error {
            // Vault answers a CAS failure with 400, not 409; clients expect that status.
            KvError::Invalid(_) | KvError::CasMismatch | KvError::CasRequired => {
                EngineError::InvalidRequest(error.to_string())
            }
            KvError::NotFound => EngineError::NotFound,
            KvError::Storage(error) => EngineError::Storage(error),
            KvError::Internal(message) => EngineError::Internal(message),
        }
    }
}
