//! The two service-account JWT claim sets the API server issues and accepts: bound tokens
//! (TokenRequest / kubelet's projected volume) and legacy secret-based tokens. Field names and
//! order follow the API server's Go structs, so a minted token's payload is byte-for-byte the
//! shape a workload would present.

use serde::{Deserialize, Serialize};

/// `iss` of every legacy (secret-based) token, whatever `--service-account-issuer` says.
pub(super) const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// A name and uid pair, as the `kubernetes.io` claim references objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// The private `kubernetes.io` claim of a bound token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct KubernetesClaim {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    pub serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// A bound service-account token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BoundClaims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    pub nbf: i64,
    pub sub: String,
}

/// A legacy secret-based token's claims: no audience, no expiry, no pod.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LegacyClaims {
    pub iss: String,
    #[serde(rename = "kubernetes.io/serviceaccount/namespace")]
    pub namespace: String,
    #[serde(rename = "kubernetes.io/serviceaccount/secret.name")]
    pub secret_name: String,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.name")]
    pub service_account_name: String,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.uid")]
    pub service_account_uid: String,
    pub sub: String,
}

/// `system:serviceaccount:<namespace>:<name>`, the `sub` claim and the TokenReview username.
pub(super) fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}
