//! Verification keys for local mode, and the algorithm pin.
//!
//! Only asymmetric signatures are accepted: RS256/RS384/RS512, PS256, ES256/ES384. `none`
//! cannot even be named (jsonwebtoken has no such algorithm, so its header fails to parse),
//! and HMAC is excluded by construction: a key's [`Validation`] lists only the algorithms of
//! its own family, so an HS256 token "signed" with a public RSA key as the secret is refused
//! before any MAC is computed. Symmetric (`kty: oct`) JWKS entries are dropped on load.

use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The signature algorithms a service-account token may use.
pub(crate) const ALLOWED_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// One public key a token may be signed with, and the single-family validation it uses.
pub(crate) struct VerifyKey {
    /// The JWKS `kid`, when the key came from a JWKS that named it.
    pub kid: Option<String>,
    /// The JWKS `alg`, when the key is restricted to one algorithm.
    alg: Option<Algorithm>,
    pub key: DecodingKey,
    pub validation: Validation,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// A PEM public key (PKIX `PUBLIC KEY`, `RSA PUBLIC KEY`) or certificate, RSA or EC.
    pub(crate) fn from_pem(pem: &str) -> Result<Self, String> {
        let bytes = pem.trim().as_bytes();
        if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
            return Ok(Self::new(None, None, key, AlgorithmFamily::Rsa));
        }
        if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
            return Ok(Self::new(None, None, key, AlgorithmFamily::Ec));
        }
        Err("not a PEM-encoded RSA or EC public key or certificate".into())
    }

    /// A JWKS entry. Symmetric, Edwards, encryption-only and unknown keys are refused.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Err("key is for encryption (use: enc)".into());
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
            AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
            AlgorithmParameters::OctetKey(_) => {
                return Err(
                    "symmetric key (kty: oct) is never valid for service-account tokens".into(),
                );
            }
            _ => return Err("unsupported key type".into()),
        };
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(alg) => {
                let alg = Algorithm::from_str(&alg.to_string())
                    .map_err(|_| format!("key algorithm {alg} is not a signature algorithm"))?;
                if !ALLOWED_ALGORITHMS.contains(&alg) || alg.family() != family {
                    return Err(format!("key algorithm {alg:?} is not allowed"));
                }
                Some(alg)
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|error| format!("bad key: {error}"))?;
        Ok(Self::new(jwk.common.key_id.clone(), alg, key, family))
    }

    fn new(
        kid: Option<String>,
        alg: Option<Algorithm>,
        key: DecodingKey,
        family: AlgorithmFamily,
    ) -> Self {
        let algorithms: Vec<Algorithm> = ALLOWED_ALGORITHMS
            .into_iter()
            .filter(|candidate| candidate.family() == family && alg.is_none_or(|a| a == *candidate))
            .collect();
        let mut validation = Validation::new_for_family(family);
        validation.algorithms = algorithms;
        // Time, audience and issuer are checked by `claims` against the injected clock and
        // the role, with reasons for the log; here only the signature is judged.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Self {
            kid,
            alg,
            key,
            validation,
        }
    }

    /// Whether a token whose header names `alg` could have been signed by this key.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.validation.algorithms.contains(&alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The DER certificates of a PEM bundle; at least one.
pub(crate) fn parse_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|cert| cert.map(|cert| cert.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "not a valid PEM certificate bundle".to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_jwks_entries_are_refused() {
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "oct", "kid": "k", "k": "c2VjcmV0"
        }))
        .unwrap();
        assert!(VerifyKey::from_jwk(&jwk).unwrap_err().contains("kty: oct"));
    }

    #[test]
    fn garbage_pem_is_refused() {
        assert!(
            VerifyKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(parse_certificates("nothing here").is_err());
    }
}
