//! Passwords: the [`Secret`] wrapper they travel in, generating them, and the SCRAM-SHA-256
//! verifier sent instead of the plaintext when `password_authentication = "scram-sha-256"`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of generated passwords: 32 alphanumerics carry about 190 bits.
const PASSWORD_LEN: usize = 32;
/// PostgreSQL's own default iteration count for SCRAM verifiers.
const SCRAM_ITERATIONS: u32 = 4096;
const SCRAM_SALT_LEN: usize = 16;

/// A secret string: zeroized on drop, never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(Zeroizing<String>);

impl Secret {
    pub(crate) fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// A fresh random password with at least one lowercase letter, uppercase letter and digit
/// (some password policies on the database side insist on character classes).
pub(crate) fn generate() -> Secret {
    let mut rng = rand::rng();
    loop {
        let candidate: String = (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(PASSWORD_LEN)
            .map(char::from)
            .collect();
        let candidate = Secret::new(candidate);
        let text = candidate.expose();
        if text.chars().any(|c| c.is_ascii_lowercase())
            && text.chars().any(|c| c.is_ascii_uppercase())
            && text.chars().any(|c| c.is_ascii_digit())
        {
            return candidate;
        }
    }
}

/// How the password reaches the database in `CREATE ROLE … PASSWORD`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PasswordAuthentication {
    /// The plaintext; the server hashes it per its `password_encryption` setting.
    #[default]
    #[serde(rename = "password")]
    Password,
    /// A SCRAM-SHA-256 verifier computed here, so the plaintext never reaches the server
    /// (or its statement log).
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

impl PasswordAuthentication {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "password" => Some(Self::Password),
            "scram-sha-256" => Some(Self::ScramSha256),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ScramSha256 => "scram-sha-256",
        }
    }

    /// What to put where a statement says `{{password}}`.
    pub(crate) fn statement_value(self, password: &Secret) -> Result<Secret, String> {
        match self {
            Self::Password => Ok(password.clone()),
            Self::ScramSha256 => {
                let salt: [u8; SCRAM_SALT_LEN] = rand::rng().random();
                scram_verifier(password.expose(), &salt, SCRAM_ITERATIONS)
                    .map_err(|error| format!("computing a SCRAM verifier failed: {error}"))
            }
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

/// HMAC takes keys of every length, so `InvalidLength` cannot happen; it is still carried
/// as an error rather than a panic.
fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], hmac::digest::InvalidLength> {
    let mut mac = HmacSha256::new_from_slice(key)?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// PBKDF2-HMAC-SHA-256 with one output block: RFC 5802's `Hi()`.
fn salted_password(
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<Zeroizing<[u8; 32]>, hmac::digest::InvalidLength> {
    let mut block = hmac(password.as_bytes(), &[salt, &1u32.to_be_bytes()])?;
    let mut result = Zeroizing::new(block);
    for _ in 1..iterations {
        block = hmac(password.as_bytes(), &[&block])?;
        for (acc, byte) in result.iter_mut().zip(block.iter()) {
            *acc ^= byte;
        }
    }
    Ok(result)
}

/// The verifier PostgreSQL stores in `pg_authid.rolpassword` for SCRAM-SHA-256:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
pub(crate) fn scram_verifier(
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<Secret, hmac::digest::InvalidLength> {
    let salted = salted_password(password, salt, iterations)?;
    let client_key = hmac(salted.as_ref(), &[b"Client Key"])?;
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(salted.as_ref(), &[b"Server Key"])?;
    Ok(Secret::new(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )))
}

/// Whether `password` matches a stored SCRAM-SHA-256 verifier; tests use it to check what
/// the server holds, since the test server trusts every local connection.
#[cfg(test)]
pub(crate) fn scram_matches(verifier: &str, password: &str) -> bool {
    let parse = || {
        let rest = verifier.strip_prefix("SCRAM-SHA-256$")?;
        let (params, _) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        Some((iterations.parse::<u32>().ok()?, BASE64.decode(salt).ok()?))
    };
    match parse() {
        Some((iterations, salt)) => scram_verifier(password, &salt, iterations)
            .is_ok_and(|computed| computed.expose() == verifier),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_distinct_and_mixed() {
        let a = generate();
        let b = generate();
        assert_eq!(a.expose().len(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(a.expose().chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("hunter2-very-secret".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn scram_verifier_matches_rfc7677_vector() {
        // RFC 7677 section 3: user "user", password "pencil", this salt, 4096 rounds.
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = scram_verifier("pencil", &salt, 4096).unwrap();
        // StoredKey/ServerKey derived from the RFC's SaltedPassword.
        assert!(
            verifier
                .expose()
                .starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
        );
        assert!(scram_matches(verifier.expose(), "pencil"));
        assert!(!scram_matches(verifier.expose(), "pencil2"));
    }
}
