//! Passwords in transit: taken out of the request body, held in zeroizing memory, checked
//! against the password policy, and never printed.
//!
//! The password is *moved* out of the request's JSON map (not cloned), so the only copy this
//! crate ever holds is the [`Password`], which wipes itself on drop. Copies made before the
//! request reached us (the HTTP body buffer) are the broker's to manage.

use std::fmt;

use lessor_sdk::Map;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::UserpassError;

/// Shortest password accepted when one is set (login does not re-check it).
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: argon2 would take more, but nothing legitimate needs
/// it and it bounds the work an unauthenticated login can ask for.
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

/// A password, wiped from memory on drop. `Debug` prints nothing of it.
pub(crate) struct Password(Zeroizing<String>);

impl Password {
    /// Removes the `password` field from `data`. `Ok(None)` when the field is absent.
    pub(crate) fn take(data: &mut Map) -> Result<Option<Self>, UserpassError> {
        match data.remove("password") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => {
                let password = Self(Zeroizing::new(text));
                if password.0.len() > MAX_PASSWORD_BYTES {
                    return Err(UserpassError::InvalidPassword(
                        "password must be at most 1024 bytes",
                    ));
                }
                Ok(Some(password))
            }
            Some(_) => Err(UserpassError::InvalidField(
                "invalid request body: password must be a string".into(),
            )),
        }
    }

    /// The policy for a password being set (user creation or password change).
    pub(crate) fn check_policy(&self) -> Result<(), UserpassError> {
        if self.0.is_empty() {
            return Err(UserpassError::InvalidPassword("password must not be empty"));
        }
        if self.0.chars().count() < MIN_PASSWORD_CHARS {
            return Err(UserpassError::InvalidPassword(
                "password must be at least 8 characters",
            ));
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    #[cfg(test)]
    pub(crate) fn from_str_for_tests(text: &str) -> Self {
        Self(Zeroizing::new(text.to_string()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Map {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn take_moves_the_password_out_of_the_body() {
        let mut data = body(json!({"password": "correct horse", "token_ttl": 5}));
        let password = Password::take(&mut data).unwrap().unwrap();
        assert_eq!(password.as_bytes(), b"correct horse");
        assert!(!data.contains_key("password"));
        assert!(data.contains_key("token_ttl"));
    }

    #[test]
    fn take_refuses_non_strings_and_oversized() {
        let mut data = body(json!({"password": 12345678}));
        assert!(Password::take(&mut data).is_err());
        let mut data = body(json!({"password": "x".repeat(MAX_PASSWORD_BYTES + 1)}));
        assert!(Password::take(&mut data).is_err());
        let mut data = body(json!({}));
        assert!(Password::take(&mut data).unwrap().is_none());
    }

    #[test]
    fn policy_refuses_empty_and_short() {
        assert!(Password::from_str_for_tests("").check_policy().is_err());
        assert!(
            Password::from_str_for_tests("1234567")
                .check_policy()
                .is_err()
        );
        assert!(
            Password::from_str_for_tests("12345678")
                .check_policy()
                .is_ok()
        );
        // Counted in characters, not bytes: eight multi-byte characters pass.
        assert!(
            Password::from_str_for_tests("éééééééé")
                .check_policy()
                .is_ok()
        );
    }

    #[test]
    fn debug_prints_nothing_secret() {
        let printed = format!("{:?}", Password::from_str_for_tests("hunter22-secret"));
        assert!(!printed.contains("hunter22"));
    }
}
