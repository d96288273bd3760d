//! The method's own failure kinds, and their one mapping onto the SDK's boundary kinds.
//!
//! A [`KubeAuthError::Denied`] carries the precise reason a login failed. That reason is for
//! the log only: the client sees a bare "permission denied", so an attacker probing with
//! tokens learns nothing about which check stopped them. Reasons name claim values
//! (namespace, service account, audience) at most, never the token or a part of it.

use lessor_sdk::{EngineError, StorageError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum KubeAuthError {
    /// A malformed request: bad field, bad value, missing configuration.
    #[error("{0}")]
    Invalid(String),
    /// A login check failed; the reason goes to the log, never to the client.
    #[error("permission denied: {0}")]
    Denied(String),
    /// Nothing stored at the path (reading a role or the config that does not exist).
    #[error("not found")]
    NotFound,
    /// The API server or the JWKS endpoint failed or could not be reached. A login never
    /// passes because of this: it fails with a server error the client may retry.
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl KubeAuthError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        KubeAuthError::Invalid(message.into())
    }

    pub(crate) fn denied(reason: impl Into<String>) -> Self {
        KubeAuthError::Denied(reason.into())
    }

    pub(crate) fn upstream(message: impl Into<String>) -> Self {
        KubeAuthError::Upstream(message.into())
    }
}

impl From<KubeAuthError> for EngineError {
    fn from(error: KubeAuthError) -> Self {
        match error {
            KubeAuthError::Invalid(message) => EngineError::InvalidRequest(message),
            KubeAuthError::Denied(_) => EngineError::PermissionDenied,
            KubeAuthError::NotFound => EngineError::NotFound,
            KubeAuthError::Upstream(message) => EngineError::Upstream(message),
            KubeAuthError::Storage(error) => EngineError::Storage(error),
            KubeAuthError::Internal(message) => EngineError::Internal(message),
        }
    }
}
