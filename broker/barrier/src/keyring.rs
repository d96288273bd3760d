//! The keyring: every data-encryption key the barrier has ever used, by term. The active term
//! encrypts new writes; older terms stay so old values keep decrypting without re-encryption.
//! The keyring is serialized into a zeroizing buffer and stored only as a blob sealed with the
//! root key.

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::{AeadKey, BarrierError, KEY_LEN};

const ENCODING_VERSION: u8 = 1;
const ENTRY_LEN: usize = 4 + 8 + KEY_LEN;

/// What `sys/key-status` reports: the active term and when it was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStatus {
    /// The term that encrypts new writes.
    pub term: u32,
    /// When the active term was installed.
    pub install_time: OffsetDateTime,
    /// How many terms the keyring holds (all of them still decrypt).
    pub terms: u32,
}

struct TermKey {
    key: AeadKey,
    installed_at: OffsetDateTime,
}

/// The set of data-encryption keys. `Debug` prints only term numbers.
pub(crate) struct Keyring {
    active: u32,
    terms: BTreeMap<u32, TermKey>,
}

impl Keyring {
    /// A keyring holding term 1 only.
    pub(crate) fn new(now: OffsetDateTime) -> Self {
        let mut terms = BTreeMap::new();
        terms.insert(
            1,
            TermKey {
                key: AeadKey::generate(),
                installed_at: now,
            },
        );
        Self { active: 1, terms }
    }

    /// A copy of this keyring with a new active term N+1. The caller persists it before use.
    pub(crate) fn rotated(&self, now: OffsetDateTime) -> Result<Self, BarrierError> {
        let next = self
            .active
            .checked_add(1)
            .ok_or(BarrierError::TermsExhausted)?;
        let mut terms: BTreeMap<u32, TermKey> = self
            .terms
            .iter()
            .map(|(term, entry)| {
                (
                    *term,
                    TermKey {
                        key: entry.key.clone(),
                        installed_at: entry.installed_at,
                    },
                )
            })
            .collect();
        terms.insert(
            next,
            TermKey {
                key: AeadKey::generate(),
                installed_at: now,
            },
        );
        Ok(Self {
            active: next,
            terms,
        })
    }

    /// The active term and its key.
    pub(crate) fn active(&self) -> Result<(u32, &AeadKey), BarrierError> {
        self.key(self.active).map(|key| (self.active, key))
    }

    /// The key of `term`, for decrypting values written under it.
    pub(crate) fn key(&self, term: u32) -> Result<&AeadKey, BarrierError> {
        self.terms
            .get(&term)
            .map(|entry| &entry.key)
            .ok_or(BarrierError::UnknownTerm(term))
    }

    pub(crate) fn status(&self) -> Result<KeyStatus, BarrierError> {
        let entry = self
            .terms
            .get(&self.active)
            .ok_or(BarrierError::UnknownTerm(self.active))?;
        Ok(KeyStatus {
            term: self.active,
            install_time: entry.installed_at,
            terms: u32::try_from(self.terms.len()).unwrap_or(u32::MAX),
        })
    }

    /// `version | active(u32) | count(u32) | count × (term(u32) | installed(i64 s) | key)`,
    /// all big-endian, in a buffer that is zeroized when dropped.
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(9 + self.terms.len() * ENTRY_LEN));
        out.push(ENCODING_VERSION);
        out.extend_from_slice(&self.active.to_be_bytes());
        let count = u32::try_from(self.terms.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for (term, entry) in &self.terms {
            out.extend_from_slice(&term.to_be_bytes());
            out.extend_from_slice(&entry.installed_at.unix_timestamp().to_be_bytes());
            out.extend_from_slice(entry.key.expose_secret());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, BarrierError> {
        const BAD: BarrierError = BarrierError::Malformed("keyring encoding");
        let (&version, rest) = bytes.split_first().ok_or(BAD)?;
        if version != ENCODING_VERSION {
            return Err(BarrierError::Malformed("unknown keyring version"));
        }
        let (active, rest) = rest.split_first_chunk::<4>().ok_or(BAD)?;
        let (count, mut rest) = rest.split_first_chunk::<4>().ok_or(BAD)?;
        let count = usize::try_from(u32::from_be_bytes(*count)).map_err(|_| BAD)?;
        if rest.len() != count.checked_mul(ENTRY_LEN).ok_or(BAD)? {
            return Err(BAD);
        }
        let mut terms = BTreeMap::new();
        while let Some((term, tail)) = rest.split_first_chunk::<4>() {
            let (installed, tail) = tail.split_first_chunk::<8>().ok_or(BAD)?;
            let (key, tail) = tail.split_at_checked(KEY_LEN).ok_or(BAD)?;
            let installed_at = OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(*installed))
                .map_err(|_| BAD)?;
            let entry = TermKey {
                key: AeadKey::from_slice(key)?,
                installed_at,
            };
            if terms.insert(u32::from_be_bytes(*term), entry).is_some() {
                return Err(BarrierError::Malformed("duplicate keyring term"));
            }
            rest = tail;
        }
        let keyring = Self {
            active: u32::from_be_bytes(*active),
            terms,
        };
        // An active term without a key would make every write fail later; refuse it now.
        keyring.active()?;
        Ok(keyring)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("terms", &self.terms.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    #[test]
    fn encode_decode_round_trips_every_term() {
        let ring = Keyring::new(at(100)).rotated(at(200)).unwrap();
        let decoded = Keyring::decode(&ring.encode()).unwrap();
        assert_eq!(decoded.active, 2);
        for term in [1, 2] {
            assert_eq!(
                decoded.key(term).unwrap().expose_secret(),
                ring.key(term).unwrap().expose_secret()
            );
        }
        assert_eq!(
            decoded.status().unwrap(),
            KeyStatus {
                term: 2,
                install_time: at(200),
                terms: 2
            }
        );
    }

    #[test]
    fn rotation_keeps_old_keys_and_adds_a_new_one() {
        let ring = Keyring::new(at(1));
        let rotated = ring.rotated(at(2)).unwrap();
        assert_eq!(
            rotated.key(1).unwrap().expose_secret(),
            ring.key(1).unwrap().expose_secret()
        );
        assert_ne!(
            rotated.key(2).unwrap().expose_secret(),
            ring.key(1).unwrap().expose_secret()
        );
        assert!(matches!(ring.key(2), Err(BarrierError::UnknownTerm(2))));
    }

    #[test]
    fn corrupt_encodings_are_rejected() {
        let encoded = Keyring::new(at(1)).encode();
        assert!(Keyring::decode(&encoded[..encoded.len() - 1]).is_err());
        let mut no_active = encoded.to_vec();
        no_active[1..5].copy_from_slice(&7u32.to_be_bytes());
        assert!(Keyring::decode(&no_active).is_err());
        assert!(Keyring::decode(&[]).is_err());
    }

    #[test]
    fn debug_shows_terms_only() {
        let ring = Keyring::new(at(1));
        let printed = format!("{ring:?}");
        assert_eq!(printed, "Keyring { active: 1, terms: [1] }");
    }
}
