//! The API key format, after GitHub's tokens:
//!
//! ```text
//! lsk_live_ 0a1B2c3D4e5F6g7H _ <secret: base62, ≥ 256 bits> <checksum: 6 base62>
//! └prefix─┘ └─key id (16)──┘
//! ```
//!
//! The prefix names the issuer for humans and secret scanners; the key id is the public
//! handle the record is stored under; the secret is the only part that is secret, and only
//! its HMAC is stored; the checksum rejects typos and truncations before any lookup. Parsing
//! works from the right (checksum, then the last `_`), because prefixes may contain `_` and
//! the key id and secret never do.

use std::fmt;

use zeroize::Zeroizing;

use crate::{base62, checksum};

/// Length of the key id in base62 characters (~95 bits: ids never collide in practice, and
/// issuance still checks).
pub(crate) const KEY_ID_LEN: usize = 16;
const SEPARATOR: char = '_';

/// Whether `prefix` is a valid role prefix: `[a-z0-9_]`, at most 32 characters.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= 32
        && prefix
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

pub(crate) fn valid_key_id(key_id: &str) -> bool {
    key_id.len() == KEY_ID_LEN && base62::is_base62(key_id)
}

/// A freshly minted key. The whole key is handed to the client once; only the key id and
/// the HMAC of the secret part are kept.
pub(crate) struct IssuedKey {
    key: Zeroizing<String>,
    key_id: String,
    secret_start: usize,
    secret_end: usize,
}

impl IssuedKey {
    /// A new key with a random id and `secret_bytes` bytes of entropy in its secret part.
    pub(crate) fn mint(prefix: &str, secret_bytes: usize) -> Self {
        let key_id = base62::random(KEY_ID_LEN);
        let secret = Zeroizing::new(base62::random(base62::chars_for_bytes(secret_bytes)));
        Self::compose(prefix, &key_id, &secret)
    }

    pub(crate) fn compose(prefix: &str, key_id: &str, secret: &str) -> Self {
        let mut key = Zeroizing::new(String::with_capacity(
            prefix.len() + key_id.len() + 1 + secret.len() + checksum::LEN,
        ));
        key.push_str(prefix);
        key.push_str(key_id);
        key.push(SEPARATOR);
        let secret_start = key.len();
        key.push_str(secret);
        let secret_end = key.len();
        let sum = checksum::of(&key);
        key.push_str(&sum);
        Self {
            key,
            key_id: key_id.to_string(),
            secret_start,
            secret_end,
        }
    }

    /// The whole key, for the one response that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.key
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn secret(&self) -> &str {
        &self.key[self.secret_start..self.secret_end]
    }
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A presented key split into its parts, borrowing from the presented string.
pub(crate) struct ParsedKey<'a> {
    pub prefix: &'a str,
    pub key_id: &'a str,
    pub secret: &'a str,
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Splits a presented key, or `None` when it is malformed or its checksum does not match.
/// Needs no storage: this is what rejects typos and truncations cheaply.
pub(crate) fn parse(key: &str) -> Option<ParsedKey<'_>> {
    if !key.is_ascii() || key.len() < KEY_ID_LEN + 1 + 1 + checksum::LEN {
        return None;
    }
    let (body, sum) = key.split_at(key.len() - checksum::LEN);
    if checksum::of(body) != sum {
        return None;
    }
    let (head, secret) = body.rsplit_once(SEPARATOR)?;
    if secret.is_empty() || !base62::is_base62(secret) || head.len() < KEY_ID_LEN {
        return None;
    }
    let (prefix, key_id) = head.split_at(head.len() - KEY_ID_LEN);
    if !valid_key_id(key_id) || !valid_prefix(prefix) {
        return None;
    }
    Some(ParsedKey {
        prefix,
        key_id,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_back_into_their_parts() {
        for prefix in ["lsk_live_", "", "a", "x_y_", "key_"] {
            let issued = IssuedKey::mint(prefix, 32);
            let parsed = parse(issued.expose()).unwrap();
            assert_eq!(parsed.prefix, prefix);
            assert_eq!(parsed.key_id, issued.key_id());
            assert_eq!(parsed.secret, issued.secret());
            assert_eq!(parsed.secret.len(), 43);
            assert_eq!(
                issued.expose().len(),
                prefix.len() + KEY_ID_LEN + 1 + 43 + checksum::LEN
            );
        }
    }

    #[test]
    fn every_truncation_and_single_change_is_rejected() {
        let issued = IssuedKey::mint("lsk_live_", 32);
        let key = issued.expose();
        for len in 0..key.len() {
            assert!(parse(&key[..len]).is_none(), "truncated to {len} accepted");
        }
        for position in 0..key.len() {
            let mut changed = key.as_bytes().to_vec();
            changed[position] = if changed[position] == b'a' {
                b'b'
            } else {
                b'a'
            };
            let changed = String::from_utf8(changed).unwrap();
            assert!(parse(&changed).is_none(), "change at {position} accepted");
        }
    }

    #[test]
    fn rejects_foreign_shapes() {
        assert!(parse("").is_none());
        assert!(parse("not a key at all, but long enough to look like one").is_none());
        // A correct checksum over a body with no separator.
        let body = "lsk_0123456789abcdefABCDEF";
        assert!(parse(&format!("{body}{}", checksum::of(body))).is_none());
        // A correct checksum over an upper-case prefix.
        let issued = IssuedKey::compose("LSK_", "0123456789abcdef", "secret");
        assert!(parse(issued.expose()).is_none());
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let issued = IssuedKey::mint("lsk_", 32);
        let debug = format!("{issued:?}");
        assert!(debug.contains(issued.key_id()));
        assert!(!debug.contains(issued.secret()));
        let parsed = parse(issued.expose()).unwrap();
        assert!(!format!("{parsed:?}").contains(issued.secret()));
    }

    #[test]
    fn prefix_rules() {
        assert!(valid_prefix("lsk_live_"));
        assert!(valid_prefix(""));
        assert!(valid_prefix(&"a".repeat(32)));
        assert!(!valid_prefix(&"a".repeat(33)));
        assert!(!valid_prefix("Lsk_"));
        assert!(!valid_prefix("lsk-"));
        assert!(!valid_prefix("lsk "));
    }
}
