//! Usernames: Vault's rules, normalised to lower case.
//!
//! Vault accepts alphanumerics plus `_`, `-` and `.`; a name may not begin with `-` nor begin
//! or end with `.`, and it is case-insensitive (stored lower-cased). Because the name becomes
//! a storage key (`user/<name>`), `/` and anything else outside the charset is refused here,
//! before any storage access, so no name can address another key.

use std::fmt;

use crate::error::UserpassError;

/// Longest accepted username, in bytes (all accepted characters are ASCII).
pub(crate) const MAX_USERNAME_LEN: usize = 128;

/// A validated, lower-cased username.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Username(String);

impl Username {
    pub(crate) fn parse(raw: &str) -> Result<Self, UserpassError> {
        if raw.is_empty() {
            return Err(UserpassError::InvalidUsername("username must not be empty"));
        }
        if raw.len() > MAX_USERNAME_LEN {
            return Err(UserpassError::InvalidUsername(
                "username must be at most 128 characters",
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(UserpassError::InvalidUsername(
                "only letters, digits, '_', '-' and '.' are allowed",
            ));
        }
        if raw.starts_with('-') {
            return Err(UserpassError::InvalidUsername(
                "username must not begin with '-'",
            ));
        }
        if raw.starts_with('.') || raw.ends_with('.') {
            return Err(UserpassError::InvalidUsername(
                "username must not begin or end with '.'",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the user's record lives in the mount's storage.
    pub(crate) fn storage_key(&self) -> String {
        format!("{}{}", USER_PREFIX, self.0)
    }
}

/// The storage prefix under which every user record lives.
pub(crate) const USER_PREFIX: &str = "user/";

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_vault_names_and_lowercases() {
        assert_eq!(Username::parse("Alice").unwrap().as_str(), "alice");
        assert_eq!(Username::parse("ALICE_01").unwrap().as_str(), "alice_01");
        assert_eq!(Username::parse("a.b-c_d").unwrap().as_str(), "a.b-c_d");
        assert_eq!(Username::parse("_x").unwrap().as_str(), "_x");
        assert_eq!(Username::parse("x-").unwrap().as_str(), "x-");
        assert_eq!(Username::parse("Bob").unwrap().storage_key(), "user/bob");
    }

    #[test]
    fn refuses_paths_and_bad_characters() {
        for bad in [
            "", "a/b", "/a", "..", ".", "../x", ".hidden", "trail.", "-x", "a b", "a@b", "é",
            "a\0b", "a\\b", "a:b",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn bounds_length() {
        assert!(Username::parse(&"a".repeat(MAX_USERNAME_LEN)).is_ok());
        assert!(Username::parse(&"a".repeat(MAX_USERNAME_LEN + 1)).is_err());
    }
}
