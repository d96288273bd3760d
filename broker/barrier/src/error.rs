//! The barrier's error type. Messages name what failed, never key material or plaintext.

use lessor_storage::StorageError;

/// Why a barrier operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BarrierError {
    /// The barrier is sealed (or was sealed while this handle was held).
    #[error("the barrier is sealed")]
    Sealed,
    /// No keyring exists yet.
    #[error("the barrier is not initialized")]
    NotInitialized,
    /// A keyring already exists; initializing again would orphan every stored value.
    #[error("the barrier is already initialized")]
    AlreadyInitialized,
    /// The root key failed to authenticate the stored keyring.
    #[error("the root key does not open the keyring")]
    InvalidRootKey,
    /// A stored value failed AEAD authentication: tampered, moved to another key, or
    /// encrypted under another key.
    #[error("stored value failed authentication")]
    Integrity,
    /// A stored value is not in a format this barrier writes.
    #[error("stored value is malformed: {0}")]
    Malformed(&'static str),
    /// A stored value names a key term the keyring does not hold.
    #[error("stored value uses unknown key term {0}")]
    UnknownTerm(u32),
    /// Key material of the wrong length was supplied.
    #[error("key material must be {expected} bytes")]
    InvalidKeyLength { expected: usize },
    /// The key belongs to the seal or keyring and is not reachable through the barrier.
    #[error("storage key {0:?} is reserved for the seal and keyring")]
    Reserved(String),
    /// The AEAD refused to encrypt (message too long).
    #[error("encryption failed")]
    Encrypt,
    /// The keyring already holds `u32::MAX` terms.
    #[error("no key term left to rotate to")]
    TermsExhausted,
    /// The underlying storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
