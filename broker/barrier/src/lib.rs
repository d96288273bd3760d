//! The encryption barrier: every value the broker stores passes through here and reaches the
//! storage backend only as AES-256-GCM ciphertext bound to its storage key (BRIEF invariant 2).
//!
//! [`Barrier`] is the sealed handle: it can initialize a keyring and unseal with the root key.
//! Unsealing yields an [`UnsealedBarrier`], the only type that can read or write plaintext.
//! Sealing wipes the keyring from that object, so stale handles held by in-flight requests fail
//! with [`BarrierError::Sealed`] instead of keeping the keys alive.

#![forbid(unsafe_code)]

mod barrier;
mod blob;
mod cache;
mod error;
mod key;
mod keyring;
mod unsealed;

pub use barrier::{Barrier, KEYRING_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH, is_reserved};
pub use blob::{open_blob, seal_blob};
pub use cache::{CacheLimits, ReadCache};
pub use error::BarrierError;
pub use key::{AeadKey, KEY_LEN, RootKey};
pub use keyring::KeyStatus;
pub use lessor_storage::{Backend, Op, StorageError};
pub use unsealed::UnsealedBarrier;
