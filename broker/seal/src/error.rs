//! The seal's error type. No message reveals key material, share contents, or which share of
//! a failed combination was wrong.

use lessor_barrier::BarrierError;
use lessor_storage::StorageError;

/// Why a seal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The requested shares/threshold are out of bounds (same rules as Vault).
    #[error("invalid seal configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("the broker is not initialized")]
    NotInitialized,
    #[error("the broker is already initialized")]
    AlreadyInitialized,
    /// The share is not a well-formed key share (wrong length, bad encoding, zero identifier).
    /// Progress is kept.
    #[error(
        "invalid key share: expected {} bytes as hex or base64",
        crate::SHARE_LEN
    )]
    InvalidShare,
    /// The submitted shares do not reconstruct the unseal key. Progress was reset.
    #[error("the submitted key shares are not valid for this broker")]
    InvalidKey,
    #[error("no rekey is in progress")]
    NoRekey,
    #[error("a rekey is already in progress")]
    RekeyInProgress,
    #[error("the nonce does not match the rekey in progress")]
    RekeyNonce,
    /// The seal's stored records are missing or unreadable.
    #[error("stored seal data is corrupt: {0}")]
    Corrupt(&'static str),
    /// The secret-sharing library refused to split or combine.
    #[error("secret sharing failed")]
    Sharing,
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
