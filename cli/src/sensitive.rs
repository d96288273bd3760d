//! Secret text the CLI handles on purpose: tokens and unseal key shares.
//!
//! The value is wiped from memory when dropped and never shows up in `Debug` output, so a stray
//! `{:?}` in an error path cannot leak it. Reading it is explicit (`expose`).

use std::fmt;

use zeroize::Zeroizing;

/// A token, key share or password held by the CLI.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> Self {
        SecretText(Zeroizing::new(text))
    }

    /// The secret itself, for sending it to the broker or writing it where the user asked.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = SecretText::new("hvs.super-secret".into());
        assert!(!format!("{secret:?}").contains("super-secret"));
        assert_eq!(secret.expose(), "hvs.super-secret");
    }
}
