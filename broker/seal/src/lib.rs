//! Shamir init, unseal and rekey for the Lessor barrier (Vault's key hierarchy).
//!
//! Key shares combine into the **unseal key** (32 bytes, never stored), which decrypts the
//! **root key** blob at [`ROOT_KEY_PATH`]; the root key opens the barrier's keyring. The share
//! configuration is stored in clear at [`SEAL_CONFIG_PATH`] because `sys/seal-status` shows it
//! while sealed. [`SealManager`] holds only in-memory unseal and rekey progress; the caller
//! keeps the [`UnsealedBarrier`] it hands out and seals it.
//!
//! [`ROOT_KEY_PATH`]: lessor_barrier::ROOT_KEY_PATH
//! [`SEAL_CONFIG_PATH`]: lessor_barrier::SEAL_CONFIG_PATH
//! [`UnsealedBarrier`]: lessor_barrier::UnsealedBarrier

#![forbid(unsafe_code)]

mod config;
mod error;
mod manager;
mod rekey;
mod share;

pub use config::SealConfig;
pub use error::SealError;
pub use manager::{InitResult, SealManager, SealStatus, UnsealStep};
pub use rekey::{RekeyResult, RekeyStatus, RekeyStep};
pub use share::{SHARE_LEN, Share, decode_share, encode_share_base64, encode_share_hex};
