//! The audit line model. Field names follow Vault's audit format (`type`, `time`, `auth`,
//! `request`, `response`, `error`; `client_token`, `accessor`, `policies`, `metadata`,
//! `remote_address`, `data`, `secret.lease_id`) so tools written for Vault's log read ours.
//! Lessor adds `auth.policy_results.matched_path`/`denied_reason` (why a request was allowed or
//! refused), `response.revoked` (the lease or prefix a revocation named), and the chain fields
//! `prev_hash`/`hash` that [`crate::chain`] appends.
//!
//! Entries borrow everything: the broker builds one per request from its own types and the
//! device serializes it straight into the line buffer, hashing as it goes.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::redact::Redaction;

/// Whether a line records a request (written before the backend runs) or its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Request,
    Response,
}

impl EntryType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Request => "request",
            EntryType::Response => "response",
        }
    }
}

/// One audit line before redaction.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub kind: EntryType,
    /// RFC 3339, from the broker's clock.
    pub time: &'a str,
    /// The caller, when the request presented a valid token.
    pub auth: Option<Auth<'a>>,
    pub request: Request<'a>,
    /// Only on response lines.
    pub response: Option<Response<'a>>,
    /// The error the client got (or will get), if any.
    pub error: Option<&'a str>,
}

/// A token's identity: the caller's on request lines, a minted token's in `response.auth`.
/// `Debug` leaves out the token and the accessor.
#[derive(Clone)]
pub struct Auth<'a> {
    /// Hashed. `None` when there is no token to show (a renewal by accessor).
    pub client_token: Option<&'a str>,
    /// Hashed unless the device sets `hmac_accessor = false`.
    pub accessor: &'a str,
    pub display_name: Option<&'a str>,
    pub policies: &'a [String],
    /// What the auth method recorded about the identity (service account, namespace, user).
    pub metadata: &'a BTreeMap<String, String>,
    /// The ACL decision for this request; absent where no policy check applies.
    pub policy_results: Option<PolicyResults<'a>>,
}

/// Why a request was allowed or refused.
#[derive(Debug, Clone)]
pub struct PolicyResults<'a> {
    pub allowed: bool,
    /// The policies whose rule granted the capability (`root` for the root token).
    pub granting_policies: &'a [String],
    /// The policy path pattern that decided, as written.
    pub matched_path: Option<&'a str>,
    pub denied_reason: Option<&'a str>,
}

/// What was asked. `Debug` leaves out the token, the accessor and the data.
#[derive(Clone)]
pub struct Request<'a> {
    pub id: &'a str,
    pub operation: &'a str,
    pub path: &'a str,
    pub remote_address: Option<&'a str>,
    /// Hashed.
    pub client_token: Option<&'a str>,
    /// Hashed unless `hmac_accessor = false`.
    pub client_token_accessor: Option<&'a str>,
    /// Body or query parameters; every string hashed.
    pub data: Option<&'a Map<String, Value>>,
}

/// What was answered. `Debug` leaves out the data (and the minted token, see [`Auth`]).
#[derive(Clone, Default)]
pub struct Response<'a> {
    /// A token minted by a login or `auth/token/create`.
    pub auth: Option<Auth<'a>>,
    /// The lease issued or renewed (`secret.lease_id`).
    pub lease_id: Option<&'a str>,
    /// The lease or prefix a revocation named.
    pub revoked: Option<Revoked<'a>>,
    /// Every string hashed.
    pub data: Option<&'a Map<String, Value>>,
}

/// The target of a revocation request.
#[derive(Debug, Clone, Copy)]
pub enum Revoked<'a> {
    Lease(&'a str),
    Prefix(&'a str),
}

impl std::fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("display_name", &self.display_name)
            .field("policies", &self.policies)
            .field("policy_results", &self.policy_results)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("remote_address", &self.remote_address)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("auth", &self.auth)
            .field("lease_id", &self.lease_id)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

impl Entry<'_> {
    /// Serializes the redacted entry (one JSON object, no newline) onto `out`.
    pub fn write_json(
        &self,
        redaction: &Redaction,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        serde_json::to_writer(
            out,
            &Redacted {
                inner: self,
                redaction,
            },
        )
    }
}

/// A part of an entry together with the redaction it is written under.
struct Redacted<'a, T> {
    inner: &'a T,
    redaction: &'a Redaction,
}

impl<'a, T> Redacted<'a, T> {
    fn of<U>(&self, inner: &'a U) -> Redacted<'a, U> {
        Redacted {
            inner,
            redaction: self.redaction,
        }
    }
}

impl Serialize for Redacted<'_, Entry<'_>> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = self.inner;
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("time", entry.time)?;
        out.serialize_entry("type", entry.kind.as_str())?;
        if let Some(auth) = &entry.auth {
            out.serialize_entry("auth", &self.of(auth))?;
        }
        out.serialize_entry("request", &self.of(&entry.request))?;
        if let Some(response) = &entry.response {
            out.serialize_entry("response", &self.of(response))?;
        }
        if let Some(error) = entry.error {
            out.serialize_entry("error", error)?;
        }
        out.end()
    }
}

impl Serialize for Redacted<'_, Auth<'_>> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let auth = self.inner;
        let r = self.redaction;
        let mut out = serializer.serialize_map(None)?;
        if let Some(token) = auth.client_token {
            out.serialize_entry("client_token", &r.secret(token))?;
        }
        out.serialize_entry("accessor", &r.accessor(auth.accessor))?;
        if let Some(name) = auth.display_name {
            out.serialize_entry("display_name", name)?;
        }
        out.serialize_entry("policies", auth.policies)?;
        out.serialize_entry("metadata", auth.metadata)?;
        if let Some(results) = &auth.policy_results {
            out.serialize_entry("policy_results", &PolicyResultsJson(results))?;
        }
        out.end()
    }
}

struct PolicyResultsJson<'a>(&'a PolicyResults<'a>);

impl Serialize for PolicyResultsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let results = self.0;
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("allowed", &results.allowed)?;
        out.serialize_entry("granting_policies", results.granting_policies)?;
        if let Some(path) = results.matched_path {
            out.serialize_entry("matched_path", path)?;
        }
        if let Some(reason) = results.denied_reason {
            out.serialize_entry("denied_reason", reason)?;
        }
        out.end()
    }
}

impl Serialize for Redacted<'_, Request<'_>> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let request = self.inner;
        let r = self.redaction;
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("id", request.id)?;
        out.serialize_entry("operation", request.operation)?;
        out.serialize_entry("path", request.path)?;
        if let Some(address) = request.remote_address {
            out.serialize_entry("remote_address", address)?;
        }
        if let Some(token) = request.client_token {
            out.serialize_entry("client_token", &r.secret(token))?;
        }
        if let Some(accessor) = request.client_token_accessor {
            out.serialize_entry("client_token_accessor", &r.accessor(accessor))?;
        }
        if let Some(data) = request.data.filter(|data| !data.is_empty()) {
            out.serialize_entry("data", &r.map(data))?;
        }
        out.end()
    }
}

impl Serialize for Redacted<'_, Response<'_>> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let response = self.inner;
        let r = self.redaction;
        let mut out = serializer.serialize_map(None)?;
        if let Some(auth) = &response.auth {
            out.serialize_entry("auth", &self.of(auth))?;
        }
        if let Some(lease_id) = response.lease_id {
            out.serialize_entry("secret", &LeaseJson(lease_id))?;
        }
        if let Some(revoked) = response.revoked {
            out.serialize_entry("revoked", &RevokedJson(revoked))?;
        }
        if let Some(data) = response.data {
            out.serialize_entry("data", &r.map(data))?;
        }
        out.end()
    }
}

struct LeaseJson<'a>(&'a str);

impl Serialize for LeaseJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(1))?;
        out.serialize_entry("lease_id", self.0)?;
        out.end()
    }
}

struct RevokedJson<'a>(Revoked<'a>);

impl Serialize for RevokedJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(1))?;
        match self.0 {
            Revoked::Lease(id) => out.serialize_entry("lease_id", id)?,
            Revoked::Prefix(prefix) => out.serialize_entry("prefix", prefix)?,
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::redact::Hasher;

    #[test]
    fn a_login_response_hides_the_secrets_and_keeps_the_structure() {
        let redaction = Redaction::new(Hasher::new(b"salt").unwrap(), false, true);
        let hasher = redaction.hasher().clone();
        let Value::Object(request_data) = json!({"jwt": "eyJhbGciOi.payload.sig", "role": "app"})
        else {
            unreachable!()
        };
        let Value::Object(response_data) = json!({"password": "pw-1", "ttl": 60}) else {
            unreachable!()
        };
        let policies = vec!["app".to_string()];
        let metadata = BTreeMap::from([("namespace".to_string(), "prod".to_string())]);
        let entry = Entry {
            kind: EntryType::Response,
            time: "2025-01-01T00:00:00Z",
            auth: None,
            request: Request {
                id: "req-1",
                operation: "update",
                path: "auth/kubernetes/login",
                remote_address: Some("10.0.0.7"),
                client_token: None,
                client_token_accessor: None,
                data: Some(&request_data),
            },
            response: Some(Response {
                auth: Some(Auth {
                    client_token: Some("hvs.minted-token"),
                    accessor: "accessor-1",
                    display_name: Some("kubernetes-prod-app"),
                    policies: &policies,
                    metadata: &metadata,
                    policy_results: None,
                }),
                lease_id: Some("database/creds/app/abc"),
                revoked: None,
                data: Some(&response_data),
            }),
            error: None,
        };
        let mut out = Vec::new();
        entry.write_json(&redaction, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for secret in ["eyJhbGciOi", "hvs.minted-token", "accessor-1", "pw-1"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let line: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["type"], "response");
        assert_eq!(line["request"]["path"], "auth/kubernetes/login");
        assert_eq!(line["request"]["remote_address"], "10.0.0.7");
        assert_eq!(
            line["request"]["data"]["jwt"],
            hasher.hash("eyJhbGciOi.payload.sig")
        );
        assert_eq!(
            line["response"]["auth"]["client_token"],
            hasher.hash("hvs.minted-token")
        );
        assert_eq!(line["response"]["auth"]["metadata"]["namespace"], "prod");
        assert_eq!(line["response"]["auth"]["policies"], json!(["app"]));
        assert_eq!(
            line["response"]["secret"]["lease_id"],
            "database/creds/app/abc"
        );
        assert_eq!(line["response"]["data"]["ttl"], 60);
        assert!(line.get("error").is_none());

        let shown = format!("{entry:?}");
        assert!(shown.contains("auth/kubernetes/login"), "{shown}");
        for secret in ["eyJhbGciOi", "hvs.minted-token", "accessor-1", "pw-1"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
