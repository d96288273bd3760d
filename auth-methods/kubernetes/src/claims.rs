//! What a service-account token says about its bearer, in both shapes Kubernetes mints:
//! projected tokens (`kubernetes.io: {namespace, serviceaccount, pod}`, issued by kubelet
//! with an expiry and audiences) and legacy secret-based tokens (flat
//! `kubernetes.io/serviceaccount/*` claims).
//!
//! Also the time, audience and issuer checks of local mode. They run against the injected
//! clock rather than inside jsonwebtoken (which reads the wall clock), so tests can move
//! time and the log can say exactly which check failed.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

/// Allowed clock skew between the token issuer and us.
pub(crate) const LEEWAY_SECONDS: i64 = 60;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Claims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default, deserialize_with = "audiences")]
    pub aud: Vec<String>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<i64>,
    #[serde(rename = "kubernetes.io", default)]
    projected: Option<Projected>,
    #[serde(rename = "kubernetes.io/serviceaccount/namespace", default)]
    legacy_namespace: Option<String>,
    #[serde(rename = "kubernetes.io/serviceaccount/secret.name", default)]
    legacy_secret_name: Option<String>,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.name", default)]
    legacy_name: Option<String>,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.uid", default)]
    legacy_uid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Projected {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    serviceaccount: Option<Named>,
    #[serde(default)]
    pod: Option<Named>,
    /// Legacy tokens converted to the projected shape (1.24+ `kubectl create token` for a
    /// secret) name their secret here.
    #[serde(default)]
    secret: Option<Named>,
}

#[derive(Debug, Default, Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
    #[serde(default)]
    uid: String,
}

/// The service account (and pod) a token stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub secret_name: Option<String>,
    /// `(name, uid)` of the pod a projected token is bound to.
    pub pod: Option<(String, String)>,
}

impl Claims {
    /// Decodes the payload of a JWT without verifying anything. Callers either verified the
    /// signature already (local mode) or will let the API server judge the token and use
    /// these claims only to reject early and to fill in metadata (token_review mode).
    pub(crate) fn peek(jwt: &str) -> Result<Self, String> {
        jsonwebtoken::dangerous::insecure_decode_claims(jwt)
            .map_err(|_| "the token is not a well-formed JWT".to_string())
    }

    /// The identity the claims assert: projected claims first, legacy ones otherwise.
    pub(crate) fn identity(&self) -> Result<Identity, String> {
        let identity = match &self.projected {
            Some(projected) => Identity {
                namespace: projected.namespace.clone().unwrap_or_default(),
                name: projected
                    .serviceaccount
                    .as_ref()
                    .map(|sa| sa.name.clone())
                    .unwrap_or_default(),
                uid: projected
                    .serviceaccount
                    .as_ref()
                    .map(|sa| sa.uid.clone())
                    .unwrap_or_default(),
                secret_name: projected
                    .secret
                    .as_ref()
                    .map(|secret| secret.name.clone())
                    .filter(|name| !name.is_empty()),
                pod: projected
                    .pod
                    .as_ref()
                    .filter(|pod| !pod.name.is_empty())
                    .map(|pod| (pod.name.clone(), pod.uid.clone())),
            },
            None => Identity {
                namespace: self.legacy_namespace.clone().unwrap_or_default(),
                name: self.legacy_name.clone().unwrap_or_default(),
                uid: self.legacy_uid.clone().unwrap_or_default(),
                secret_name: self.legacy_secret_name.clone().filter(|n| !n.is_empty()),
                pod: None,
            },
        };
        if identity.namespace.is_empty() || identity.name.is_empty() {
            return Err("the token carries no service-account namespace and name claims".into());
        }
        // A token whose subject names someone else than its kubernetes.io claims is forged
        // or broken either way.
        if let Some(sub) = &self.sub {
            let expected = service_account_username(&identity.namespace, &identity.name);
            if *sub != expected {
                return Err(format!(
                    "the token's subject {sub:?} does not match its service-account claims \
                     ({}/{})",
                    identity.namespace, identity.name
                ));
            }
        }
        Ok(identity)
    }

    /// `exp` (required), `nbf` and `iat`, each with [`LEEWAY_SECONDS`] of skew allowed.
    ///
    /// `exp` is required because local mode has no revocation: a token without an expiry
    /// (a legacy secret-based token) would be good forever. Such tokens need token_review.
    pub(crate) fn check_time(&self, now: OffsetDateTime) -> Result<(), String> {
        let now = now.unix_timestamp();
        let exp = self
            .exp
            .ok_or("the token has no exp claim; local validation needs one (use token_review)")?;
        if exp.saturating_add(LEEWAY_SECONDS) < now {
            return Err(format!("the token expired {}s ago", now - exp));
        }
        if let Some(nbf) = self.nbf
            && nbf > now.saturating_add(LEEWAY_SECONDS)
        {
            return Err(format!(
                "the token is not valid for another {}s (nbf)",
                nbf - now
            ));
        }
        if let Some(iat) = self.iat
            && iat > now.saturating_add(LEEWAY_SECONDS)
        {
            return Err(format!(
                "the token claims to be issued {}s in the future",
                iat - now
            ));
        }
        Ok(())
    }

    pub(crate) fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|aud| aud == audience)
    }
}

/// The username the API server gives a service account.
pub(crate) fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// `aud` is a string or a list of strings (RFC 7519 §4.1.3).
fn audiences<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Shape>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(Shape::One(aud)) => vec![aud],
        Some(Shape::Many(list)) => list,
    })
}

/// A NumericDate: seconds since the epoch, integer or fractional.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => {
            // Truncation is the point: whole seconds are all the checks need.
            #[allow(clippy::cast_possible_truncation)]
            Ok(Some(seconds.floor() as i64))
        }
        _ => Err(serde::de::Error::custom("a NumericDate out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: serde_json::Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn projected_identity() {
        let claims = claims(json!({
            "sub": "system:serviceaccount:apps:web",
            "aud": "vault",
            "kubernetes.io": {
                "namespace": "apps",
                "serviceaccount": {"name": "web", "uid": "u-1"},
                "pod": {"name": "web-0", "uid": "p-1"}
            }
        }));
        let identity = claims.identity().unwrap();
        assert_eq!(identity.namespace, "apps");
        assert_eq!(identity.name, "web");
        assert_eq!(identity.uid, "u-1");
        assert_eq!(identity.pod, Some(("web-0".into(), "p-1".into())));
        assert!(claims.has_audience("vault"));
        assert!(!claims.has_audience("other"));
    }

    #[test]
    fn legacy_identity() {
        let claims = claims(json!({
            "iss": "kubernetes/serviceaccount",
            "sub": "system:serviceaccount:apps:web",
            "kubernetes.io/serviceaccount/namespace": "apps",
            "kubernetes.io/serviceaccount/secret.name": "web-token-x",
            "kubernetes.io/serviceaccount/service-account.name": "web",
            "kubernetes.io/serviceaccount/service-account.uid": "u-1"
        }));
        let identity = claims.identity().unwrap();
        assert_eq!(identity.name, "web");
        assert_eq!(identity.secret_name.as_deref(), Some("web-token-x"));
        assert_eq!(identity.pod, None);
    }

    #[test]
    fn subject_must_agree_with_the_claims() {
        let claims = claims(json!({
            "sub": "system:serviceaccount:kube-system:admin",
            "kubernetes.io": {"namespace": "apps", "serviceaccount": {"name": "web", "uid": "u"}}
        }));
        assert!(claims.identity().is_err());
        assert!(Claims::default().identity().is_err());
    }

    #[test]
    fn time_checks_with_leeway() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let at = |exp: i64, nbf: Option<i64>| Claims {
            exp: Some(exp),
            nbf,
            ..Claims::default()
        };
        assert!(at(1_000_100, None).check_time(now).is_ok());
        assert!(at(999_950, None).check_time(now).is_ok(), "within leeway");
        assert!(
            at(999_900, None)
                .check_time(now)
                .unwrap_err()
                .contains("expired")
        );
        assert!(at(1_000_100, Some(1_000_030)).check_time(now).is_ok());
        assert!(
            at(1_000_500, Some(1_000_100))
                .check_time(now)
                .unwrap_err()
                .contains("nbf")
        );
        assert!(
            Claims::default()
                .check_time(now)
                .unwrap_err()
                .contains("no exp")
        );
        let fractional = claims(json!({"exp": 1_000_100.5}));
        assert!(fractional.check_time(now).is_ok());
    }
}
