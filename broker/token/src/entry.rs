//! The persisted form of a token ([`TokenEntry`]) and how it is shown to clients: Vault's
//! `lookup` fields and `auth` block. An entry never holds the token itself, only its keyed
//! hash.

use std::collections::BTreeMap;

use lessor_sdk::{Map, Ttl};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SecretToken;
use crate::lifetime::remaining;

/// The policy that grants everything; its tokens may never expire.
pub const ROOT_POLICY: &str = "root";
/// The policy most tokens carry in addition to their own.
pub const DEFAULT_POLICY: &str = "default";

/// Everything the broker knows about one token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Hex HMAC-SHA-256 of the token under the store's salt; the storage key.
    pub hash: String,
    /// A public handle: lets operators look up and revoke a token without holding it.
    pub accessor: String,
    /// The parent's hash; `None` for orphans.
    pub parent: Option<String>,
    /// Sorted and deduplicated.
    pub policies: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    /// Uses left; 0 means unlimited.
    pub num_uses: u32,
    /// Set when the last use was spent: the token is unusable and awaits revocation.
    #[serde(default)]
    pub uses_exhausted: bool,
    #[serde(with = "time::serde::timestamp")]
    pub creation_time: OffsetDateTime,
    /// The TTL the token was created with; zero for tokens that never expire.
    pub creation_ttl: Ttl,
    /// `None` for root tokens that never expire.
    #[serde(with = "time::serde::timestamp::option")]
    pub expire_time: Option<OffsetDateTime>,
    pub explicit_max_ttl: Ttl,
    /// The auth method's maximum TTL (from its role), counted from creation; zero when none.
    #[serde(default)]
    pub max_ttl: Ttl,
    pub period: Ttl,
    pub renewable: bool,
    /// The path that created the token, e.g. `auth/token/create`, `auth/kubernetes/login`.
    pub path: String,
    /// Opaque data of the auth method that minted the token; never shown to clients.
    #[serde(default)]
    pub internal: Value,
    #[serde(with = "time::serde::timestamp::option")]
    pub last_renewal: Option<OffsetDateTime>,
}

impl TokenEntry {
    pub fn is_orphan(&self) -> bool {
        self.parent.is_none()
    }

    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|policy| policy == ROOT_POLICY)
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expire_time.is_some_and(|expiry| expiry <= now)
    }

    /// Whole seconds left; 0 for tokens that never expire (Vault's convention).
    pub fn ttl_remaining(&self, now: OffsetDateTime) -> u64 {
        self.expire_time
            .and_then(|expiry| remaining(expiry, now))
            .map_or(0, |left| left.as_secs())
    }

    /// Whether a token minted by the token store itself (not by an auth method login).
    pub fn is_from_token_store(&self) -> bool {
        self.path.starts_with("auth/token/")
    }

    /// Vault's `lookup` / `lookup-self` data. `id` is the token itself, shown only to a
    /// caller that presented it; lookups by accessor pass `None` and get `""`.
    pub fn to_lookup_data(&self, id: Option<&SecretToken>, now: OffsetDateTime) -> Map {
        let num_uses: i64 = if self.uses_exhausted {
            -1 // Vault's "revocation pending" marker
        } else {
            i64::from(self.num_uses)
        };
        let mut data = Map::new();
        data.insert("accessor".into(), json!(self.accessor));
        data.insert(
            "creation_time".into(),
            json!(self.creation_time.unix_timestamp()),
        );
        data.insert("creation_ttl".into(), json!(self.creation_ttl.as_secs()));
        data.insert("display_name".into(), json!(self.display_name));
        data.insert("entity_id".into(), json!(""));
        data.insert("expire_time".into(), rfc3339(self.expire_time));
        data.insert(
            "explicit_max_ttl".into(),
            json!(self.explicit_max_ttl.as_secs()),
        );
        data.insert("id".into(), json!(id.map_or("", SecretToken::expose)));
        data.insert("issue_time".into(), rfc3339(Some(self.creation_time)));
        data.insert("meta".into(), self.meta_value());
        data.insert("num_uses".into(), json!(num_uses));
        data.insert("orphan".into(), json!(self.is_orphan()));
        data.insert("path".into(), json!(self.path));
        data.insert("policies".into(), json!(self.policies));
        data.insert("renewable".into(), json!(self.renewable));
        data.insert("ttl".into(), json!(self.ttl_remaining(now)));
        data.insert("type".into(), json!("service"));
        if !self.period.is_zero() {
            data.insert("period".into(), json!(self.period.as_secs()));
        }
        if let Some(renewed) = self.last_renewal {
            data.insert("last_renewal_time".into(), json!(renewed.unix_timestamp()));
            data.insert("last_renewal".into(), rfc3339(Some(renewed)));
        }
        data
    }

    /// Vault's `auth` response block. `client_token` is `None` when the caller named the
    /// token by accessor (Vault then answers with an empty `client_token`).
    pub fn to_auth_data(&self, client_token: Option<&SecretToken>, now: OffsetDateTime) -> Map {
        let mut auth = Map::new();
        auth.insert(
            "client_token".into(),
            json!(client_token.map_or("", SecretToken::expose)),
        );
        auth.insert("accessor".into(), json!(self.accessor));
        auth.insert("policies".into(), json!(self.policies));
        auth.insert("token_policies".into(), json!(self.policies));
        auth.insert("metadata".into(), self.meta_value());
        auth.insert("lease_duration".into(), json!(self.ttl_remaining(now)));
        auth.insert("renewable".into(), json!(self.renewable));
        auth.insert("entity_id".into(), json!(""));
        auth.insert("token_type".into(), json!("service"));
        auth.insert("orphan".into(), json!(self.is_orphan()));
        auth.insert("mfa_requirement".into(), Value::Null);
        auth.insert("num_uses".into(), json!(self.num_uses));
        auth
    }

    /// Vault shows absent metadata as `null`.
    fn meta_value(&self) -> Value {
        if self.meta.is_empty() {
            Value::Null
        } else {
            json!(self.meta)
        }
    }
}

fn rfc3339(at: Option<OffsetDateTime>) -> Value {
    at.and_then(|at| at.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// Vault's `SanitizePolicies`: trimmed, lowercased, deduplicated, sorted, without empty
/// names; `root` swallows every other policy; `default` added on request (never to root).
pub fn sanitize_policies<S: AsRef<str>>(policies: &[S], add_default: bool) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .map(|policy| policy.as_ref().trim().to_lowercase())
        .filter(|policy| !policy.is_empty())
        .collect();
    if out.iter().any(|policy| policy == ROOT_POLICY) {
        return vec![ROOT_POLICY.to_string()];
    }
    if add_default {
        out.push(DEFAULT_POLICY.to_string());
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize() {
        assert_eq!(
            sanitize_policies(&[" Web", "web", "", "db"], true),
            vec!["db", "default", "web"]
        );
        assert_eq!(sanitize_policies(&["root", "web"], true), vec!["root"]);
        assert!(sanitize_policies::<&str>(&[], false).is_empty());
    }
}
