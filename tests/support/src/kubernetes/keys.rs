//! The stand-in API server's service-account signing keys: RSA-2048 key pairs, their `kid`s
//! (computed the way kube-apiserver does), their JWKS entries, and JWT signing with them.
//!
//! Signing goes through `jsonwebtoken` like production verification does; only the `alg: none`
//! forgery is assembled by hand, because no JWT library will produce one.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_RSA_SHA256, PublicKeyData};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One RSA signing key as the API server holds it (`--service-account-signing-key-file`).
pub(super) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_pem: String,
    /// Base64url modulus and exponent for the JWKS.
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private half never prints.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub(super) fn generate() -> anyhow::Result<Self> {
        let pair = KeyPair::generate_for(&PKCS_RSA_SHA256).context("generating an RSA key")?;
        let public_pem = pair.public_key_pem();
        let encoding = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes())
            .context("loading the RSA private key")?;
        let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .context("loading the RSA public key")?;
        let jwk = Jwk::from_decoding_key(&decoding, Some(Algorithm::RS256))
            .context("deriving the JWK")?;
        let AlgorithmParameters::RSA(rsa) = jwk.algorithm else {
            anyhow::bail!("an RSA key produced a non-RSA JWK");
        };
        Ok(Self {
            kid: key_id(&pair.subject_public_key_info()),
            encoding,
            decoding,
            public_pem,
            n: rsa.n,
            e: rsa.e,
        })
    }

    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    pub(super) fn public_pem(&self) -> &str {
        &self.public_pem
    }

    pub(super) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// This key's entry in `/openid/v1/jwks`, field for field as kube-apiserver writes it.
    pub(super) fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "use": "sig",
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "n": self.n,
            "e": self.e,
        })
    }

    /// RS256 with `kid` in the header and no `typ`, like the API server's tokens.
    pub(super) fn sign(&self, kid: &str, claims: &impl Serialize) -> anyhow::Result<String> {
        let header = Header {
            typ: None,
            kid: Some(kid.to_owned()),
            ..Header::new(Algorithm::RS256)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing a JWT")
    }

    /// The algorithm-confusion forgery: HS256 keyed with the public key's PEM text, which a
    /// verifier that lets the token pick its algorithm would accept.
    pub(super) fn sign_hs256_with_public_pem(
        &self,
        claims: &impl Serialize,
    ) -> anyhow::Result<String> {
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let key = EncodingKey::from_secret(self.public_pem.as_bytes());
        jsonwebtoken::encode(&header, claims, &key).context("signing an HS256 JWT")
    }
}

/// `alg: none` with an empty signature segment (`header.payload.`).
pub(super) fn unsigned(kid: &str, claims: &impl Serialize) -> anyhow::Result<String> {
    let header = serde_json::json!({ "alg": "none", "kid": kid });
    let header = serde_json::to_vec(&header).context("encoding a JWT header")?;
    let claims = serde_json::to_vec(claims).context("encoding JWT claims")?;
    Ok(format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    ))
}

/// kube-apiserver's `keyIDFromPublicKey`: base64url (unpadded) of SHA-256 over the PKIX
/// (SubjectPublicKeyInfo) DER, so a key's `kid` is stable across restarts and replicas.
fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(spki_der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_hash_of_the_spki_in_the_pem() {
        let key = SigningKey::generate().unwrap();
        let body: String = key
            .public_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(key.kid(), URL_SAFE_NO_PAD.encode(Sha256::digest(der)));
        assert_eq!(key.kid().len(), 43);
    }

    #[test]
    fn unsigned_token_has_an_empty_signature_segment() {
        let token = unsigned("k", &serde_json::json!({"sub": "x"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[2].is_empty());
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "none");
    }
}
