//! What is stored for an issued key: its HMAC and its metadata, never the key.
//!
//! Storage keys: `keys/<key_id>` (the record; `verify` reads only this) and
//! `role-keys/<role>/<key_id>` (an empty marker, so operators can list a role's keys). Both
//! are written and deleted in one atomic batch. The index lives outside `roles/` so that
//! listing roles never shows index folders.

use std::collections::BTreeMap;
use std::fmt;

use lessor_sdk::{EngineContext, MountStorageExt, StorageOp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::error::ApiKeyError;
use crate::mount_secret::Digest;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub role: String,
    pub prefix: String,
    pub hmac: StoredDigest,
    pub scopes: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// The role's `allowed_verifiers` at issue, so `verify` needs no second read.
    pub allowed_verifiers: Vec<String>,
    pub lease_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issue_time: OffsetDateTime,
    /// Checked by `verify` itself, so a key is dead at this instant even if the broker's
    /// revocation of the lease runs a little later.
    #[serde(with = "time::serde::rfc3339")]
    pub expire_time: OffsetDateTime,
}

/// The HMAC of a key's secret part, stored as hex. Not secret on its own, but never shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredDigest(pub Digest);

impl fmt::Debug for StoredDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredDigest(..)")
    }
}

impl Serialize for StoredDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex: String = self.0.iter().map(|byte| format!("{byte:02x}")).collect();
        serializer.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for StoredDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        let invalid = || serde::de::Error::custom("expected 64 hex digits");
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(invalid());
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Self(digest))
    }
}

pub(crate) fn storage_key(key_id: &str) -> String {
    format!("keys/{key_id}")
}

pub(crate) fn role_index_prefix(role: &str) -> String {
    format!("role-keys/{role}/")
}

fn index_key(role: &str, key_id: &str) -> String {
    format!("{}{key_id}", role_index_prefix(role))
}

pub(crate) async fn load(
    ctx: &EngineContext,
    key_id: &str,
) -> Result<Option<KeyRecord>, ApiKeyError> {
    Ok(ctx.storage.get_json(&storage_key(key_id)).await?)
}

pub(crate) async fn exists(ctx: &EngineContext, key_id: &str) -> Result<bool, ApiKeyError> {
    Ok(ctx.storage.get(&storage_key(key_id)).await?.is_some())
}

/// Writes the record and its index entry together.
pub(crate) async fn store(
    ctx: &EngineContext,
    key_id: &str,
    record: &KeyRecord,
) -> Result<(), ApiKeyError> {
    let value = serde_json::to_vec(record)
        .map_err(|error| ApiKeyError::Internal(format!("key record: {error}")))?;
    ctx.storage
        .apply(vec![
            StorageOp::Put {
                key: storage_key(key_id),
                value,
            },
            StorageOp::Put {
                key: index_key(&record.role, key_id),
                value: Vec::new(),
            },
        ])
        .await?;
    Ok(())
}

/// Rewrites the record alone (renewal: the index entry does not change).
pub(crate) async fn update(
    ctx: &EngineContext,
    key_id: &str,
    record: &KeyRecord,
) -> Result<(), ApiKeyError> {
    Ok(ctx.storage.put_json(&storage_key(key_id), record).await?)
}

/// Deletes the record and its index entry; deleting what is not there is success.
pub(crate) async fn delete(
    ctx: &EngineContext,
    key_id: &str,
    role: &str,
) -> Result<(), ApiKeyError> {
    ctx.storage
        .apply(vec![
            StorageOp::Delete {
                key: storage_key(key_id),
            },
            StorageOp::Delete {
                key: index_key(role, key_id),
            },
        ])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_as_hex() {
        let mut digest = [0u8; 32];
        digest[0] = 0xab;
        digest[31] = 0x01;
        let json = serde_json::to_string(&StoredDigest(digest)).unwrap();
        assert!(json.starts_with("\"ab00"));
        assert!(json.ends_with("01\""));
        let back: StoredDigest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, StoredDigest(digest));
        assert!(serde_json::from_str::<StoredDigest>("\"abc\"").is_err());
        assert!(serde_json::from_str::<StoredDigest>(&format!("\"{}\"", "zz".repeat(32))).is_err());
        assert_eq!(format!("{:?}", StoredDigest(digest)), "StoredDigest(..)");
    }
}
