//! Key material types: 256-bit AES keys that zeroize on drop and never print themselves.

use std::fmt;

use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::BarrierError;

/// Length in bytes of every key the barrier and seal use (AES-256).
pub const KEY_LEN: usize = 32;

/// A 256-bit AES-GCM key. Zeroized on drop; `Debug` prints nothing secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AeadKey([u8; KEY_LEN]);

impl AeadKey {
    /// A fresh key from the thread-local CSPRNG (ChaCha seeded by the OS).
    #[must_use]
    pub fn generate() -> Self {
        // Fill in place so no unzeroized copy of the key is left on the stack.
        let mut key = Self([0; KEY_LEN]);
        rand::rng().fill_bytes(&mut key.0);
        key
    }

    /// Wraps existing key bytes; rejects anything but exactly [`KEY_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, BarrierError> {
        let mut key = Self([0; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(BarrierError::InvalidKeyLength { expected: KEY_LEN });
        }
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// The raw key bytes. Callers must not copy them into memory that is not zeroized.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey(<redacted>)")
    }
}

/// The root key: it encrypts the barrier's keyring. A distinct type from [`AeadKey`] so an
/// unseal key or a keyring term can never be passed where the root key is expected.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey(AeadKey);

impl RootKey {
    /// A fresh random root key.
    #[must_use]
    pub fn generate() -> Self {
        Self(AeadKey::generate())
    }

    /// Wraps existing root key bytes (e.g. just decrypted by the seal).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, BarrierError> {
        AeadKey::from_slice(bytes).map(Self)
    }

    /// The raw key bytes, for the seal to encrypt under the unseal key.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }

    pub(crate) fn aead_key(&self) -> &AeadKey {
        &self.0
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_key_bytes() {
        let key = AeadKey::from_slice(&[0xAB; KEY_LEN]).unwrap();
        let root = RootKey::from_slice(&[0xCD; KEY_LEN]).unwrap();
        let printed = format!("{key:?} {root:?}");
        assert!(!printed.to_lowercase().contains("ab"), "{printed}");
        assert!(!printed.contains("171"), "{printed}");
        assert!(!printed.contains("205"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn wrong_length_is_rejected() {
        assert!(matches!(
            AeadKey::from_slice(&[1; 31]),
            Err(BarrierError::InvalidKeyLength { expected: 32 })
        ));
        assert!(RootKey::from_slice(&[1; 33]).is_err());
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            AeadKey::generate().expose_secret(),
            AeadKey::generate().expose_secret()
        );
    }
}
