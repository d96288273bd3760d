//! Key shares: splitting the unseal key with Shamir over GF(256) (vsss-rs), combining shares
//! back, and the hex/base64 text forms operators paste into `sys/unseal`.
//!
//! A share is `identifier(1) | 32 bytes`, always [`SHARE_LEN`] bytes, including the 1-of-1
//! case that vsss-rs does not support (threshold ≥ 2): there the single share carries the
//! unseal key itself after identifier 1.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lessor_barrier::{AeadKey, KEY_LEN};
use subtle::ConstantTimeEq;
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::SealError;

/// Length of every key share in bytes: the identifier plus one byte per key byte.
pub const SHARE_LEN: usize = 1 + KEY_LEN;

/// One well-formed key share: right length, non-zero identifier. Zeroized on drop; `Debug`
/// prints nothing but the (public) identifier.
#[derive(Clone)]
pub struct Share(Zeroizing<Vec<u8>>);

impl Share {
    /// Checks and wraps raw share bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        match bytes.first() {
            Some(&identifier) if identifier != 0 && bytes.len() == SHARE_LEN => {
                Ok(Self(Zeroizing::new(bytes.to_vec())))
            }
            _ => Err(SealError::InvalidShare),
        }
    }

    /// Parses the hex or base64 text form.
    pub fn decode(text: &str) -> Result<Self, SealError> {
        Self::from_bytes(&decode_share(text)?)
    }

    /// The x-coordinate; public (operators see "key 3 of 5").
    #[must_use]
    pub fn identifier(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex, Vault's `keys` form.
    #[must_use]
    pub fn to_hex(&self) -> Zeroizing<String> {
        encode_share_hex(&self.0)
    }

    /// Standard base64, Vault's `keys_base64` form.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        encode_share_base64(&self.0)
    }

    /// Constant-time equality of the whole share.
    pub(crate) fn same_as(&self, other: &Share) -> bool {
        bool::from(self.0.as_slice().ct_eq(other.0.as_slice()))
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Share({}, <redacted>)", self.identifier())
    }
}

/// Decodes a share given as hex (Vault's `keys`) or standard base64 (`keys_base64`). Hex is
/// tried first, as Vault does; the decoded length must be [`SHARE_LEN`].
pub fn decode_share(text: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let text = text.trim();
    let bytes = match hex::decode(text) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(_) => Zeroizing::new(BASE64.decode(text).map_err(|_| SealError::InvalidShare)?),
    };
    if bytes.len() != SHARE_LEN {
        return Err(SealError::InvalidShare);
    }
    Ok(bytes)
}

#[must_use]
pub fn encode_share_hex(share: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(hex::encode(share))
}

#[must_use]
pub fn encode_share_base64(share: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(BASE64.encode(share))
}

/// Splits `key` into `shares` shares, any `threshold` of which reconstruct it. The caller
/// has validated the configuration (threshold 1 only with a single share).
pub(crate) fn split(key: &AeadKey, shares: u8, threshold: u8) -> Result<Vec<Share>, SealError> {
    if threshold == 1 {
        if shares != 1 {
            return Err(SealError::InvalidConfig(
                "threshold must be greater than one for multiple shares",
            ));
        }
        let mut single = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
        single.push(1);
        single.extend_from_slice(key.expose_secret());
        return Ok(vec![Share(single)]);
    }
    let raw = Zeroizing::new(
        Gf256::split_bytes(
            usize::from(threshold),
            usize::from(shares),
            key.expose_secret(),
            rand_shamir::rng(),
        )
        .map_err(|_| SealError::Sharing)?,
    );
    raw.iter().map(|share| Share::from_bytes(share)).collect()
}

/// Reconstructs a key from shares. With too few or wrong shares this returns *some* key
/// silently: callers must verify it by decrypting something with it.
pub(crate) fn combine(shares: &[Share], threshold: u8) -> Result<AeadKey, SealError> {
    if threshold == 1 {
        let share = shares.first().ok_or(SealError::InvalidKey)?;
        return AeadKey::from_slice(&share.0[1..]).map_err(|_| SealError::InvalidKey);
    }
    if shares.len() < usize::from(threshold) {
        return Err(SealError::InvalidKey);
    }
    let raw: Zeroizing<Vec<Vec<u8>>> =
        Zeroizing::new(shares.iter().map(|share| share.0.to_vec()).collect());
    // vsss-rs rejects duplicate and zero identifiers; any refusal is just a bad combination.
    let secret =
        Zeroizing::new(Gf256::combine_bytes(raw.as_slice()).map_err(|_| SealError::InvalidKey)?);
    AeadKey::from_slice(&secret).map_err(|_| SealError::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_recombines_and_fewer_do_not() {
        let key = AeadKey::generate();
        let shares = split(&key, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        let ids: Vec<u8> = shares.iter().map(Share::identifier).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let subset = [shares[a].clone(), shares[b].clone(), shares[c].clone()];
                    let combined = combine(&subset, 3).unwrap();
                    assert_eq!(combined.expose_secret(), key.expose_secret());
                }
                // Two points of a degree-2 polynomial: vsss combines them to a wrong key.
                let pair = [shares[a].clone(), shares[b].clone()];
                let combined = combine(&pair, 2).unwrap();
                assert_ne!(combined.expose_secret(), key.expose_secret());
            }
        }
    }

    #[test]
    fn one_of_one_is_the_key_with_identifier_one() {
        let key = AeadKey::generate();
        let shares = split(&key, 1, 1).unwrap();
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0].expose_secret().len(), SHARE_LEN);
        assert_eq!(shares[0].identifier(), 1);
        assert_eq!(
            combine(&shares, 1).unwrap().expose_secret(),
            key.expose_secret()
        );
    }

    #[test]
    fn the_255_share_boundary_splits_and_combines() {
        let key = AeadKey::generate();
        let shares = split(&key, 255, 255).unwrap();
        assert_eq!(shares.len(), 255);
        assert_eq!(shares[254].identifier(), 255);
        assert_eq!(
            combine(&shares, 255).unwrap().expose_secret(),
            key.expose_secret()
        );
        assert_ne!(
            combine(&shares[..254], 254).unwrap().expose_secret(),
            key.expose_secret()
        );
    }

    #[test]
    fn malformed_shares_are_rejected() {
        assert!(Share::from_bytes(&[1; SHARE_LEN - 1]).is_err());
        assert!(Share::from_bytes(&[1; SHARE_LEN + 1]).is_err());
        assert!(Share::from_bytes(&[]).is_err());
        let mut zero_id = [7u8; SHARE_LEN];
        zero_id[0] = 0;
        assert!(matches!(
            Share::from_bytes(&zero_id),
            Err(SealError::InvalidShare)
        ));
    }

    #[test]
    fn text_forms_round_trip_and_wrong_lengths_fail() {
        let share = split(&AeadKey::generate(), 3, 2).unwrap().remove(0);
        let hex = share.to_hex();
        let b64 = share.to_base64();
        assert_eq!(hex.len(), 2 * SHARE_LEN);
        assert_eq!(b64.len(), 44);
        assert!(Share::decode(&hex).unwrap().same_as(&share));
        assert!(Share::decode(&hex.to_uppercase()).unwrap().same_as(&share));
        assert!(
            Share::decode(&format!(" {}\n", b64.as_str()))
                .unwrap()
                .same_as(&share)
        );
        assert!(matches!(
            decode_share(&hex[2..]),
            Err(SealError::InvalidShare)
        ));
        assert!(matches!(
            decode_share("not a share!"),
            Err(SealError::InvalidShare)
        ));
        assert!(matches!(decode_share(""), Err(SealError::InvalidShare)));
    }

    #[test]
    fn debug_shows_only_the_identifier() {
        let share = Share::from_bytes(&[9; SHARE_LEN]).unwrap();
        assert_eq!(format!("{share:?}"), "Share(9, <redacted>)");
    }
}
