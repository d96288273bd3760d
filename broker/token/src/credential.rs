//! The secret half of a token and its public handle: generating client tokens and
//! accessors, checking the shape of presented tokens, and keeping token text out of `Debug`
//! output and zeroized in memory.

use rand::Rng;
use rand::distr::Alphanumeric;
use zeroize::Zeroizing;

/// Service tokens carry Vault's `hvs.` prefix so clients and secret scanners recognise them.
pub const SERVICE_TOKEN_PREFIX: &str = "hvs.";
/// 48 base62 characters ≈ 285 bits of entropy (the brief asks for at least 256).
const TOKEN_RANDOM_CHARS: usize = 48;
/// Vault's accessors are 24 characters; 24 base62 characters ≈ 142 bits.
const ACCESSOR_CHARS: usize = 24;
/// Longer presented values are rejected before hashing; no real token is this long.
const MAX_TOKEN_LEN: usize = 512;
const MAX_ACCESSOR_LEN: usize = 128;

/// A client token. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct SecretToken(Zeroizing<String>);

impl SecretToken {
    pub fn new(token: impl Into<String>) -> Self {
        SecretToken(Zeroizing::new(token.into()))
    }

    /// A fresh random service token (`hvs.` + 48 base62 characters).
    pub fn generate() -> Self {
        let mut token = String::with_capacity(SERVICE_TOKEN_PREFIX.len() + TOKEN_RANDOM_CHARS);
        token.push_str(SERVICE_TOKEN_PREFIX);
        token.extend(random_base62(TOKEN_RANDOM_CHARS));
        SecretToken::new(token)
    }

    /// The token text, for the one place that must send it to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// A fresh random accessor.
pub(crate) fn generate_accessor() -> String {
    random_base62(ACCESSOR_CHARS).collect()
}

fn random_base62(count: usize) -> impl Iterator<Item = char> {
    // ThreadRng is a CSPRNG (ChaCha, reseeded from the OS).
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(count)
        .map(char::from)
}

/// Whether a presented token is worth hashing at all. Custom ids (dev mode, `id` on create)
/// are allowed, so only the outer shape is checked: printable ASCII, bounded length.
pub(crate) fn is_plausible_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Accessors become storage keys, so only base62 is accepted.
pub(crate) fn is_plausible_accessor(accessor: &str) -> bool {
    !accessor.is_empty()
        && accessor.len() <= MAX_ACCESSOR_LEN
        && accessor.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Vault's rules for caller-chosen token ids: no `.` (so they never look like a generated
/// `hvs.` token) and the same outer shape as any presented token.
pub(crate) fn check_custom_id(id: &str) -> Result<(), &'static str> {
    if !is_plausible_token(id) {
        return Err("custom token ID must be 1 to 512 printable ASCII characters");
    }
    if id.contains('.') {
        return Err("custom token ID cannot have a '.' in the value");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_vault_shape_and_differ() {
        let a = SecretToken::generate();
        let b = SecretToken::generate();
        assert!(a.expose().starts_with("hvs."));
        assert_eq!(a.expose().len(), 4 + 48);
        assert!(a.expose()[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose(), b.expose());
        assert!(is_plausible_token(a.expose()));
    }

    #[test]
    fn debug_hides_the_token() {
        let token = SecretToken::new("hvs.supersecret");
        assert!(!format!("{token:?}").contains("supersecret"));
    }

    #[test]
    fn accessors_are_base62() {
        let accessor = generate_accessor();
        assert_eq!(accessor.len(), 24);
        assert!(is_plausible_accessor(&accessor));
        assert!(!is_plausible_accessor("../salt"));
        assert!(!is_plausible_accessor(""));
    }

    #[test]
    fn custom_ids() {
        assert!(check_custom_id("root").is_ok());
        assert!(check_custom_id("hvs.abc").is_err());
        assert!(check_custom_id("").is_err());
        assert!(check_custom_id("with space").is_err());
        assert!(!is_plausible_token(&"a".repeat(513)));
    }
}
