//! The engine's failure kinds and their one mapping onto the SDK's boundary kinds.
//!
//! Messages name roles and key ids (public handles); never a key, its secret part, its HMAC
//! or the mount's HMAC key.

use lessor_sdk::{EngineError, StorageError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiKeyError {
    /// A malformed request or one the role forbids.
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// The caller may not verify keys of this role (`allowed_verifiers`).
    #[error("permission denied")]
    Denied,
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record does not decode, or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiKeyError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiKeyError::Invalid(message.into())
    }
}

impl From<ApiKeyError> for EngineError {
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::Invalid(message) => EngineError::InvalidRequest(message),
            ApiKeyError::NotFound => EngineError::NotFound,
            ApiKeyError::Denied => EngineError::PermissionDenied,
            ApiKeyError::Storage(error) => EngineError::Storage(error),
            ApiKeyError::Internal(message) => EngineError::Internal(message),
        }
    }
}
