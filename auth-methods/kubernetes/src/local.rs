//! local mode: verifies a service-account JWT here, with no API-server round trip.
//!
//! Order of checks: the header's algorithm against the pin (so `none` and HS* never reach a
//! key), the signature against the PEM keys and the JWKS, then time, issuer and audience
//! from the verified claims. Each failure is a [`KubeAuthError::Denied`] naming the check.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::claims::{Claims, Identity};
use crate::error::KubeAuthError;
use crate::keys::{ALLOWED_ALGORITHMS, VerifyKey};
use crate::mount_state::MountState;
use crate::role::Role;

/// The JOSE header fields we look at before choosing a key.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

pub(crate) async fn verify(
    state: &MountState,
    role: &Role,
    jwt: &str,
    now: OffsetDateTime,
) -> Result<Identity, KubeAuthError> {
    let header = peek_header(jwt)?;
    let alg = Algorithm::from_str(&header.alg)
        .ok()
        .filter(|alg| ALLOWED_ALGORITHMS.contains(alg))
        .ok_or_else(|| {
            KubeAuthError::denied(format!(
                "the token's algorithm {:?} is not accepted",
                header.alg
            ))
        })?;
    let kid = header.kid.as_deref();

    let claims = verify_signature(state, jwt, alg, kid, now).await?;
    claims.check_time(now).map_err(KubeAuthError::Denied)?;
    if let Some(issuer) = state.config.expected_issuer()
        && claims.iss.as_deref() != Some(issuer)
    {
        return Err(KubeAuthError::denied(format!(
            "the token's issuer {:?} is not the configured {issuer:?}",
            claims.iss.as_deref().unwrap_or("")
        )));
    }
    if let Some(audience) = role.audience()
        && !claims.has_audience(audience)
    {
        return Err(KubeAuthError::denied(format!(
            "the token's audiences {:?} do not include the role's {audience:?}",
            claims.aud
        )));
    }
    claims.identity().map_err(KubeAuthError::Denied)
}

async fn verify_signature(
    state: &MountState,
    jwt: &str,
    alg: Algorithm,
    kid: Option<&str>,
    now: OffsetDateTime,
) -> Result<Claims, KubeAuthError> {
    let jwks_keys = match &state.jwks {
        Some(jwks) => Some(jwks.keys(kid, now).await?),
        None => None,
    };
    // PEM keys carry no kid and are tried for any token; JWKS keys only for their own kid
    // (or for every token that names none).
    let candidates: Vec<&VerifyKey> = state
        .pem_keys
        .iter()
        .chain(
            jwks_keys
                .iter()
                .flat_map(|keys| keys.iter())
                .filter(|key| kid.is_none() || key.kid.is_none() || key.kid.as_deref() == kid),
        )
        .filter(|key| key.accepts(alg))
        .collect();
    if candidates.is_empty() {
        return Err(KubeAuthError::denied(match kid {
            Some(kid) => format!("no configured or published key has kid {kid:?} for {alg:?}"),
            None => format!("no configured or published key verifies {alg:?}"),
        }));
    }
    for key in candidates {
        match jsonwebtoken::decode::<Claims>(jwt, &key.key, &key.validation) {
            Ok(data) => return Ok(data.claims),
            Err(error) if matches!(error.kind(), ErrorKind::InvalidSignature) => continue,
            Err(error) => {
                return Err(KubeAuthError::denied(format!(
                    "the token does not decode: {}",
                    describe(error.kind())
                )));
            }
        }
    }
    Err(KubeAuthError::denied(
        "the token's signature does not verify against any configured or published key",
    ))
}

/// The header, decoded without trusting anything in it yet.
fn peek_header(jwt: &str) -> Result<Header, KubeAuthError> {
    let malformed = || KubeAuthError::denied("the token is not a well-formed JWT");
    let mut parts = jwt.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

/// A short, token-free description of a jsonwebtoken failure.
fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidToken => "malformed token",
        ErrorKind::InvalidAlgorithm => "algorithm not accepted for this key",
        ErrorKind::Base64(_) => "bad base64",
        ErrorKind::Json(_) => "claims are not valid JSON of the expected shape",
        ErrorKind::Utf8(_) => "claims are not UTF-8",
        ErrorKind::InvalidKeyFormat => "unusable key",
        _ => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(peek_header(&format!("{header}.e30.")).unwrap().alg, "none");
        assert!(peek_header("not-a-jwt").is_err());
        assert!(peek_header("a.b.c.d").is_err());
        assert!(peek_header("!!!.e30.sig").is_err());
    }
}
