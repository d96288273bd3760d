//! The few error kinds that cross the plugin boundary.
//!
//! They say *what kind* of failure happened, never *which HTTP status* it is: the broker's
//! HTTP layer owns that mapping. Messages must never contain secret material; they may be
//! shown to the client and are written to logs.

/// An error returned by a secret engine or auth method.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request is malformed or violates a rule of the engine (bad field, bad value).
    #[error("{0}")]
    InvalidRequest(String),
    /// Nothing exists at the path.
    #[error("not found")]
    NotFound,
    /// The caller is authenticated but the engine refuses (e.g. a failed login check).
    /// The message is generic on purpose; engines log the precise reason themselves.
    #[error("permission denied")]
    PermissionDenied,
    /// The route exists but does not support this operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// A conditional write lost (e.g. check-and-set version mismatch).
    #[error("{0}")]
    Conflict(String),
    /// A system the engine talks to (a database, an API server) failed or is unreachable.
    #[error("upstream error: {0}")]
    Upstream(String),
    /// Reading or writing the mount's storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A bug or an impossible state inside the engine.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn invalid(message: impl Into<String>) -> Self {
        EngineError::InvalidRequest(message.into())
    }
}

/// Storage failed underneath a [`crate::MountStorage`]. The text is for operators; it never
/// contains stored values.
#[derive(Debug, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StorageError(pub String);
