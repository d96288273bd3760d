//! What is hashed and how. Every string that could be a secret is replaced by
//! `hmac-sha256:<hex>`, keyed by the device's salt, so the log never holds the value but an
//! operator holding it can ask `sys/audit-hash` and grep for the result.
//!
//! Hashed (as Vault does): client tokens, token accessors (unless `hmac_accessor` is off),
//! and every string inside request and response `data`, at any depth. Numbers, booleans and
//! nulls are kept: they carry no secret and keep the shape readable.
//!
//! Not hashed: the structure an operator searches by — time, entry type, request id,
//! operation, path, remote address, display name, policy names, identity metadata from the
//! auth method, lease ids, the policy decision, error text. None of these is a secret by
//! construction (errors are the broker's own messages, already free of secrets).

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use sha2::Sha256;

use crate::device::AuditError;

/// Prefix of every hashed value, as Vault writes it.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// HMAC-SHA-256 under one device's salt. The key schedule is done once; each hash clones
/// the prepared state, so hashing a value costs two compression rounds plus the value.
#[derive(Clone)]
pub struct Hasher {
    prepared: Hmac<Sha256>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(<keyed>)")
    }
}

impl Hasher {
    /// Keys the HMAC with `salt`. The caller keeps the salt zeroized; the prepared HMAC state
    /// lives as long as the device (hmac 0.12 does not wipe it on drop).
    pub fn new(salt: &[u8]) -> Result<Self, AuditError> {
        let prepared =
            <Hmac<Sha256> as Mac>::new_from_slice(salt).map_err(|_| AuditError::InvalidSalt)?;
        Ok(Self { prepared })
    }

    /// `hmac-sha256:<hex>` of `value`.
    pub fn hash(&self, value: &str) -> String {
        let mut mac = self.prepared.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(HASH_PREFIX.len() + digest.len() * 2);
        out.push_str(HASH_PREFIX);
        out.push_str(&hex::encode(digest));
        out
    }
}

/// A device's redaction settings.
#[derive(Debug, Clone)]
pub struct Redaction {
    hasher: Hasher,
    /// `log_raw`: write every value in the clear. Off by default; for debugging only.
    log_raw: bool,
    /// `hmac_accessor`: hash token accessors too (default on, as Vault). Off lets operators
    /// search by accessor directly; an accessor cannot be used as the token.
    hmac_accessor: bool,
}

impl Redaction {
    pub fn new(hasher: Hasher, log_raw: bool, hmac_accessor: bool) -> Self {
        Self {
            hasher,
            log_raw,
            hmac_accessor,
        }
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// A value that may be secret: hashed unless `log_raw`.
    pub fn secret<'a>(&self, value: &'a str) -> Cow<'a, str> {
        if self.log_raw {
            Cow::Borrowed(value)
        } else {
            Cow::Owned(self.hasher.hash(value))
        }
    }

    /// A token accessor: hashed unless `log_raw` or `hmac_accessor = false`.
    pub fn accessor<'a>(&self, value: &'a str) -> Cow<'a, str> {
        if self.hmac_accessor {
            self.secret(value)
        } else {
            Cow::Borrowed(value)
        }
    }

    /// A JSON value with every string in it hashed, serialized in one pass without copying
    /// the tree. Object keys stay readable (they are field names, not values).
    pub fn value<'a>(&'a self, value: &'a Value) -> HashedValue<'a> {
        HashedValue {
            value,
            redaction: self,
        }
    }

    /// A JSON object, hashed as [`Redaction::value`] does.
    pub fn map<'a>(&'a self, map: &'a serde_json::Map<String, Value>) -> HashedMap<'a> {
        HashedMap {
            map,
            redaction: self,
        }
    }
}

/// See [`Redaction::value`]. `Debug` shows nothing of the value.
pub struct HashedValue<'a> {
    value: &'a Value,
    redaction: &'a Redaction,
}

impl std::fmt::Debug for HashedValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashedValue(..)")
    }
}

impl Serialize for HashedValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::String(text) => serializer.serialize_str(&self.redaction.secret(text)),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.redaction.value(item))?;
                }
                seq.end()
            }
            Value::Object(map) => self.redaction.map(map).serialize(serializer),
            // Null, booleans and numbers are not secrets.
            other => other.serialize(serializer),
        }
    }
}

/// See [`Redaction::map`]. `Debug` shows nothing of the map.
pub struct HashedMap<'a> {
    map: &'a serde_json::Map<String, Value>,
    redaction: &'a Redaction,
}

impl std::fmt::Debug for HashedMap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashedMap(..)")
    }
}

impl Serialize for HashedMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(self.map.len()))?;
        for (key, value) in self.map {
            out.serialize_entry(key, &self.redaction.value(value))?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redaction(log_raw: bool, hmac_accessor: bool) -> Redaction {
        Redaction::new(Hasher::new(b"salt").unwrap(), log_raw, hmac_accessor)
    }

    #[test]
    fn hash_is_hmac_sha256_of_the_value_under_the_salt() {
        // RFC 4231 style check against an independent computation.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"salt").unwrap();
        mac.update(b"hvs.token");
        let expected = format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()));
        let hasher = Hasher::new(b"salt").unwrap();
        assert_eq!(hasher.hash("hvs.token"), expected);
        // The prepared key is reused, not consumed.
        assert_eq!(hasher.hash("hvs.token"), expected);
        assert_ne!(Hasher::new(b"other").unwrap().hash("hvs.token"), expected);
    }

    #[test]
    fn every_string_at_any_depth_is_hashed_and_nothing_else() {
        let r = redaction(false, true);
        let data = json!({
            "password": "hunter2",
            "ttl": 3600,
            "renewable": true,
            "nothing": null,
            "nested": {"jwt": "eyJ.secret", "list": ["a-secret", 7, {"deep": "deeper-secret"}]}
        });
        let text = serde_json::to_string(&r.value(&data)).unwrap();
        for secret in ["hunter2", "eyJ.secret", "a-secret", "deeper-secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
            assert!(text.contains(&r.hasher().hash(secret)), "{text}");
        }
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["ttl"], 3600);
        assert_eq!(parsed["renewable"], true);
        assert_eq!(parsed["nothing"], Value::Null);
        assert_eq!(parsed["nested"]["list"][1], 7);
        // Keys stay readable.
        assert!(parsed["nested"]["list"][2].get("deep").is_some());
    }

    #[test]
    fn log_raw_and_hmac_accessor_switches() {
        let hashed = redaction(false, true);
        assert!(hashed.secret("tok").starts_with(HASH_PREFIX));
        assert!(hashed.accessor("acc").starts_with(HASH_PREFIX));
        let plain_accessor = redaction(false, false);
        assert_eq!(plain_accessor.accessor("acc"), "acc");
        assert!(plain_accessor.secret("tok").starts_with(HASH_PREFIX));
        let raw = redaction(true, true);
        assert_eq!(raw.secret("tok"), "tok");
        assert_eq!(raw.accessor("acc"), "acc");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let hasher = Hasher::new(b"very-secret-salt").unwrap();
        assert!(!format!("{hasher:?}").contains("very-secret-salt"));
        let r = redaction(false, true);
        let data = json!({"password": "hunter2"});
        assert!(!format!("{:?}", r.value(&data)).contains("hunter2"));
        assert!(!format!("{:?}", r.map(data.as_object().unwrap())).contains("hunter2"));
    }
}
