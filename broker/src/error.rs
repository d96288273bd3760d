//! The broker's error kinds. They describe what went wrong in domain terms; `http::error`
//! maps each to a status code and a Vault-style `{"errors": [...]}` body, in one place.

use lessor_sdk::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The broker is sealed: only init, unseal, seal-status and health answer.
    #[error("Vault is sealed")]
    Sealed,
    #[error("Vault is not initialized")]
    NotInitialized,
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    #[error("{0}")]
    InvalidRequest(String),
    /// Missing, unknown, expired or exhausted token, or a policy that does not grant the
    /// capability. Deliberately says nothing more.
    #[error("permission denied")]
    PermissionDenied,
    #[error("{0}")]
    NotFound(String),
    #[error("unsupported operation")]
    UnsupportedOperation,
    #[error("{0}")]
    Upstream(String),
    /// The body is larger than the listener's `max_request_size` (the limit, in bytes).
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The request took longer than the listener's `max_request_duration`.
    #[error("request exceeded the maximum request duration")]
    Timeout,
    /// HA: this node is a standby, or has just lost leadership, and cannot serve the request
    /// itself (a write it tried was fenced). The client should retry; it will reach the active.
    #[error("this node is not the active node")]
    NotActive,
    /// HA: no active node is known, or the one named cannot be reached, to forward to.
    #[error("no active node")]
    NoActiveNode,
    /// A failure inside the broker. The message is logged; the client sees a generic text.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest(message.into())
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal(message.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InvalidRequest(message) | EngineError::Conflict(message) => {
                ApiError::InvalidRequest(message)
            }
            EngineError::NotFound => ApiError::NotFound(String::new()),
            EngineError::PermissionDenied => ApiError::PermissionDenied,
            EngineError::UnsupportedOperation => ApiError::UnsupportedOperation,
            EngineError::Upstream(message) => ApiError::Upstream(message),
            EngineError::Storage(error) => ApiError::internal(error),
            EngineError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl From<lessor_sdk::StorageError> for ApiError {
    fn from(error: lessor_sdk::StorageError) -> Self {
        ApiError::internal(error)
    }
}

impl From<lessor_token::TokenError> for ApiError {
    fn from(error: lessor_token::TokenError) -> Self {
        EngineError::from(error).into()
    }
}

impl From<crate::lease::LeaseError> for ApiError {
    fn from(error: crate::lease::LeaseError) -> Self {
        use crate::lease::LeaseError;
        match error {
            LeaseError::NotFound => ApiError::InvalidRequest("lease not found".into()),
            LeaseError::Invalid(message) => ApiError::InvalidRequest(message),
            LeaseError::Engine(error) => error.into(),
            LeaseError::Storage(message) => ApiError::Internal(message),
            LeaseError::Incomplete(message) => ApiError::Upstream(message),
        }
    }
}
