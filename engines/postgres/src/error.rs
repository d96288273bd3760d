//! The engine's failure kinds and their one mapping onto the SDK's boundary kinds.
//!
//! Messages name configs, roles, users and hosts; never a password (root or generated).

use lessor_sdk::{EngineError, StorageError};

use crate::database::TargetError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    /// A malformed request or one the configuration forbids.
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// The target database failed or is unreachable.
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record does not decode, or a value does not format.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PgError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        PgError::Invalid(message.into())
    }
}

impl From<TargetError> for PgError {
    fn from(error: TargetError) -> Self {
        match error {
            TargetError::Statement(error) => PgError::Invalid(error.to_string()),
            TargetError::Upstream(message) => PgError::Upstream(message),
        }
    }
}

impl From<PgError> for EngineError {
    fn from(error: PgError) -> Self {
        match error {
            PgError::Invalid(message) => EngineError::InvalidRequest(message),
            PgError::NotFound => EngineError::NotFound,
            PgError::Upstream(message) => EngineError::Upstream(message),
            PgError::Storage(error) => EngineError::Storage(error),
            PgError::Internal(message) => EngineError::Internal(message),
        }
    }
}
