//! The token store's error kinds and their mapping onto the plugin boundary's
//! [`EngineError`]. Messages never carry a token, a token hash or the salt.

use lessor_sdk::{EngineError, StorageError};

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is unknown, malformed, expired, revoked or out of uses. Deliberately one
    /// variant: a client must not learn which of these it was.
    #[error("permission denied")]
    InvalidToken,
    /// No token has this accessor (Vault answers 400 here, not 403).
    #[error("invalid accessor")]
    InvalidAccessor,
    /// The request violates a rule (bad field, policy escalation, missing sudo…).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("token is not renewable")]
    NotRenewable,
    /// The token reached its maximum lifetime; it can no longer be extended.
    #[error("past the max TTL, cannot renew")]
    PastMaxTtl,
    /// A broker hook failed: an auth method refused to renew a token it minted, or the
    /// leases of a token could not be revoked.
    #[error(transparent)]
    Hook(EngineError),
    /// Some tokens of a tree could not be revoked; they stay in storage so a retry finds them.
    #[error(
        "revocation incomplete: {failed} token(s) could not be revoked ({revoked} revoked); retry"
    )]
    RevocationIncomplete { revoked: usize, failed: usize },
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored token data does not decode: a bug or tampering underneath the barrier.
    #[error("token store data is corrupt: {0}")]
    Corrupt(String),
}

impl TokenError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        TokenError::InvalidRequest(message.into())
    }
}

impl From<TokenError> for EngineError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::InvalidToken => EngineError::PermissionDenied,
            TokenError::InvalidAccessor
            | TokenError::InvalidRequest(_)
            | TokenError::NotRenewable
            | TokenError::PastMaxTtl => EngineError::InvalidRequest(error.to_string()),
            TokenError::Hook(inner) => inner,
            TokenError::RevocationIncomplete { .. } => EngineError::Upstream(error.to_string()),
            TokenError::Storage(inner) => EngineError::Storage(inner),
            TokenError::Corrupt(_) => EngineError::Internal(error.to_string()),
        }
    }
}
