//! The AEAD framing: AES-256-GCM with a fresh random 96-bit nonce per encryption and the
//! caller's AAD (the storage key), so a ciphertext copied to another key fails to open.
//!
//! Two framings share one cipher path:
//! - a *blob* (`seal_blob`/`open_blob`): `version(1) | nonce(12) | ciphertext+tag`, used for
//!   the keyring under the root key and by the seal for the root key under the unseal key;
//! - a *barrier value*: `version(1) | term(u32 BE) | nonce(12) | ciphertext+tag`, where the
//!   term selects the keyring key that encrypted it.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{AeadKey, BarrierError};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const BLOB_VERSION: u8 = 1;
const VALUE_VERSION: u8 = 1;
const TERM_LEN: usize = 4;

/// Encrypts `plaintext` under `key`, binding it to `aad`. Returns a self-describing blob.
pub fn seal_blob(key: &AeadKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(BLOB_VERSION);
    encrypt_into(&mut out, key, aad, plaintext)?;
    Ok(out)
}

/// Opens a blob made by [`seal_blob`] with the same key and AAD.
pub fn open_blob(
    key: &AeadKey,
    aad: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    match blob.split_first() {
        Some((&BLOB_VERSION, rest)) => decrypt(key, aad, rest),
        Some(_) => Err(BarrierError::Malformed("unknown blob version")),
        None => Err(BarrierError::Malformed("empty blob")),
    }
}

/// Encrypts a barrier value under the keyring key of `term`.
pub(crate) fn seal_value(
    term: u32,
    key: &AeadKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BarrierError> {
    let mut out = Vec::with_capacity(1 + TERM_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(VALUE_VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    encrypt_into(&mut out, key, aad, plaintext)?;
    Ok(out)
}

/// Splits a barrier value into its key term and the `nonce | ciphertext` remainder.
pub(crate) fn value_term(value: &[u8]) -> Result<(u32, &[u8]), BarrierError> {
    let (&version, rest) = value
        .split_first()
        .ok_or(BarrierError::Malformed("empty value"))?;
    if version != VALUE_VERSION {
        return Err(BarrierError::Malformed("unknown value version"));
    }
    let (term, body) = rest
        .split_first_chunk::<TERM_LEN>()
        .ok_or(BarrierError::Malformed("value too short"))?;
    Ok((u32::from_be_bytes(*term), body))
}

/// Decrypts `nonce | ciphertext+tag`.
pub(crate) fn decrypt(
    key: &AeadKey,
    aad: &[u8],
    body: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(BarrierError::Malformed("ciphertext too short"));
    }
    let (nonce, msg) = body.split_at(NONCE_LEN);
    let nonce =
        Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| BarrierError::Malformed("bad nonce"))?;
    cipher(key)?
        .decrypt(&nonce, Payload { msg, aad })
        .map(Zeroizing::new)
        .map_err(|_| BarrierError::Integrity)
}

fn encrypt_into(
    out: &mut Vec<u8>,
    key: &AeadKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(), BarrierError> {
    // A random 96-bit nonce per write: with at most ~2^32 writes per key term the collision
    // probability stays within NIST's bound, and `rotate` starts a fresh term well before that.
    let mut nonce_bytes = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce_bytes);
    let nonce = Nonce::<Aes256Gcm>::from(nonce_bytes);
    let ciphertext = cipher(key)?
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| BarrierError::Encrypt)?;
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    Ok(())
}

fn cipher(key: &AeadKey) -> Result<Aes256Gcm, BarrierError> {
    Aes256Gcm::new_from_slice(key.expose_secret()).map_err(|_| BarrierError::InvalidKeyLength {
        expected: crate::KEY_LEN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trips_and_binds_aad() {
        let key = AeadKey::generate();
        let blob = seal_blob(&key, b"core/root-key", b"secret").unwrap();
        assert_eq!(
            open_blob(&key, b"core/root-key", &blob).unwrap().as_slice(),
            b"secret"
        );
        assert!(matches!(
            open_blob(&key, b"core/other", &blob),
            Err(BarrierError::Integrity)
        ));
        assert!(matches!(
            open_blob(&AeadKey::generate(), b"core/root-key", &blob),
            Err(BarrierError::Integrity)
        ));
    }

    #[test]
    fn every_flipped_bit_fails() {
        let key = AeadKey::generate();
        let blob = seal_blob(&key, b"k", b"payload").unwrap();
        for byte in 0..blob.len() {
            for bit in 0..8 {
                let mut tampered = blob.clone();
                tampered[byte] ^= 1 << bit;
                assert!(open_blob(&key, b"k", &tampered).is_err(), "{byte}:{bit}");
            }
        }
    }

    #[test]
    fn nonces_are_fresh_per_encryption() {
        let key = AeadKey::generate();
        let a = seal_blob(&key, b"k", b"same").unwrap();
        let b = seal_blob(&key, b"k", b"same").unwrap();
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn truncated_input_is_malformed_not_a_panic() {
        let key = AeadKey::generate();
        for len in 0..(1 + NONCE_LEN + TAG_LEN) {
            let blob = vec![BLOB_VERSION; len];
            assert!(open_blob(&key, b"k", &blob).is_err());
        }
        assert!(value_term(&[VALUE_VERSION, 0, 0]).is_err());
    }
}
