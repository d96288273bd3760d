//! Service-account token authentication as kube-apiserver does it: signature against its own
//! keys (RS256 only), issuer, expiry with the API server's one-minute leeway, audiences, and
//! that the service account, pod and (legacy) secret the claims name still exist with the same
//! uids. Serves both the TokenReview endpoint and the API's own bearer authentication.
//!
//! Error strings mimic the API server's (`[invalid bearer token, <reason>]`) without ever
//! echoing the token.

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, Validation};

use super::State;
use super::claims::{BoundClaims, LEGACY_ISSUER, LegacyClaims, username};

/// go-jose's `DefaultLeeway`, which the API server's claim validation uses for exp/nbf/iat.
pub(super) const LEEWAY_SECS: i64 = 60;

/// What TokenReview reports for a token the API server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authenticated {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    pub audiences: Vec<String>,
}

impl State {
    /// Authenticates `token` for `requested` audiences (empty = the API server's own).
    pub(super) fn authenticate(
        &self,
        token: &str,
        requested: &[String],
    ) -> Result<Authenticated, String> {
        let claims = self.verify_signature(token).ok_or_else(|| invalid(None))?;
        match claims.get("iss").and_then(serde_json::Value::as_str) {
            Some(iss) if iss == self.issuer => {
                let claims: BoundClaims =
                    serde_json::from_value(claims).map_err(|_| invalid(None))?;
                self.authenticate_bound(&claims, requested)
            }
            Some(LEGACY_ISSUER) => {
                let claims: LegacyClaims =
                    serde_json::from_value(claims).map_err(|_| invalid(None))?;
                self.authenticate_legacy(&claims, token, requested)
            }
            // No service-account authenticator claims a token from another issuer.
            _ => Err(invalid(None)),
        }
    }

    /// The verified claims when some key the server holds (current or retired) signed the
    /// token with RS256. `alg: none`, HS256 and foreign keys all end here as `None`.
    fn verify_signature(&self, token: &str) -> Option<serde_json::Value> {
        let mut validation = Validation::new(Algorithm::RS256);
        // Claims are checked below against the injected clock and the API server's rules.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let keys = self.keys();
        keys.verifying().find_map(|key| {
            jsonwebtoken::decode::<serde_json::Value>(token, key.decoding(), &validation)
                .ok()
                .map(|data| data.claims)
        })
    }

    fn authenticate_bound(
        &self,
        claims: &BoundClaims,
        requested: &[String],
    ) -> Result<Authenticated, String> {
        let now = self.clock.now().unix_timestamp();
        if now - LEEWAY_SECS > claims.exp {
            return Err(invalid(Some("service account token has expired")));
        }
        if now + LEEWAY_SECS < claims.nbf {
            return Err(invalid(Some("service account token is not valid yet")));
        }
        if now + LEEWAY_SECS < claims.iat {
            return Err(invalid(Some(
                "service account token is issued in the future",
            )));
        }
        let audiences = self.intersect_audiences(&claims.aud, requested)?;

        let k8s = &claims.kubernetes;
        if claims.sub != username(&k8s.namespace, &k8s.serviceaccount.name) {
            return Err(invalid(None));
        }
        let objects = self.objects();
        objects.check_service_account(&k8s.namespace, &k8s.serviceaccount)?;
        let mut extra = BTreeMap::new();
        if let Some(pod) = &k8s.pod {
            objects.check_pod(&k8s.namespace, pod)?;
            extra.insert(extra_key("pod-name"), vec![pod.name.clone()]);
            extra.insert(extra_key("pod-uid"), vec![pod.uid.clone()]);
        }
        if let Some(node) = &k8s.node {
            extra.insert(extra_key("node-name"), vec![node.name.clone()]);
            extra.insert(extra_key("node-uid"), vec![node.uid.clone()]);
        }
        extra.insert(
            extra_key("credential-id"),
            vec![format!("JTI={}", claims.jti)],
        );
        Ok(authenticated(
            &k8s.namespace,
            &k8s.serviceaccount.name,
            &k8s.serviceaccount.uid,
            extra,
            audiences,
        ))
    }

    fn authenticate_legacy(
        &self,
        claims: &LegacyClaims,
        token: &str,
        requested: &[String],
    ) -> Result<Authenticated, String> {
        // Legacy tokens carry no audience; the API server treats them as meant for itself.
        let implicit = self.api_audiences();
        let audiences = self.intersect_audiences(&implicit, requested)?;
        if claims.sub != username(&claims.namespace, &claims.service_account_name) {
            return Err(invalid(None));
        }
        let objects = self.objects();
        objects.check_legacy_secret(claims, token)?;
        Ok(authenticated(
            &claims.namespace,
            &claims.service_account_name,
            &claims.service_account_uid,
            BTreeMap::new(),
            audiences,
        ))
    }

    /// The API server's rule: the token's audiences that the caller asked for (or, when the
    /// caller named none, that the API server itself answers to), in the token's order.
    fn intersect_audiences(
        &self,
        token_audiences: &[String],
        requested: &[String],
    ) -> Result<Vec<String>, String> {
        let implicit = self.api_audiences();
        let targets = if requested.is_empty() {
            implicit.as_slice()
        } else {
            requested
        };
        let both: Vec<String> = token_audiences
            .iter()
            .filter(|aud| targets.contains(aud))
            .cloned()
            .collect();
        if both.is_empty() {
            return Err(invalid(Some(&format!(
                "token audiences {} is invalid for the target audiences {}",
                go_quoted(token_audiences),
                go_quoted(targets)
            ))));
        }
        Ok(both)
    }
}

fn authenticated(
    namespace: &str,
    name: &str,
    uid: &str,
    extra: BTreeMap<String, Vec<String>>,
    audiences: Vec<String>,
) -> Authenticated {
    Authenticated {
        username: username(namespace, name),
        uid: uid.to_owned(),
        groups: vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_owned(),
        ],
        extra,
        audiences,
    }
}

fn extra_key(name: &str) -> String {
    format!("authentication.kubernetes.io/{name}")
}

/// The union authenticator's aggregate error, as TokenReview's `status.error` shows it.
pub(super) fn invalid(reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("[invalid bearer token, {reason}]"),
        None => "invalid bearer token".to_owned(),
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(" "))
}
