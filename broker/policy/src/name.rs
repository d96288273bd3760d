//! Policy names: validation, normalisation and the two reserved names. Vault treats policy names
//! case-insensitively by storing them lowercased; the same is done here so `Admin` and `admin`
//! can never be two different policies.

use crate::PolicyError;

/// Longest policy name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a policy name and returns it in its stored (lowercase) form.
///
/// Rejects empty names, names longer than [`MAX_NAME_LEN`], and names containing `/` (names are
/// path segments in `sys/policies/acl/:name` and storage keys) or control characters (they end up
/// in logs and audit records).
pub fn normalize_name(name: &str) -> Result<String, PolicyError> {
    let reason = if name.is_empty() {
        Some("name is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("name is longer than 128 bytes")
    } else if name.contains('/') {
        Some("name contains '/'")
    } else if name.chars().any(char::is_control) {
        Some("name contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(PolicyError::InvalidName { reason }),
        None => Ok(name.to_lowercase()),
    }
}

/// The built-in policies whose names carry rules of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// `root`: grants everything; has no rules to read, and can be neither written nor deleted.
    Root,
    /// `default`: attached to tokens by default; may be rewritten but never deleted.
    Default,
}

impl Reserved {
    /// Whether `sys/policies/acl/:name` may be written for this name.
    pub fn writable(self) -> bool {
        matches!(self, Reserved::Default)
    }

    /// Whether `sys/policies/acl/:name` may be deleted for this name (never).
    pub fn deletable(self) -> bool {
        false
    }
}

/// Which reserved policy `name` refers to, if any (case-insensitively, as names are).
pub fn reserved(name: &str) -> Option<Reserved> {
    if name.eq_ignore_ascii_case("root") {
        Some(Reserved::Root)
    } else if name.eq_ignore_ascii_case("default") {
        Some(Reserved::Default)
    } else {
        None
    }
}

/// Whether `name` is `root` or `default`, which the policy API must treat specially.
pub fn is_reserved(name: &str) -> bool {
    reserved(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased() {
        assert_eq!(
            normalize_name("Team-A_read.v2").ok().as_deref(),
            Some("team-a_read.v2")
        );
    }

    #[test]
    fn bad_names_are_rejected() {
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "a/b",
            "/",
            "tab\there",
            "nl\n",
            "nul\0",
            too_long.as_str(),
        ] {
            assert!(
                matches!(normalize_name(bad), Err(PolicyError::InvalidName { .. })),
                "{bad:?} should be rejected"
            );
        }
        assert!(normalize_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn reserved_names() {
        assert_eq!(reserved("ROOT"), Some(Reserved::Root));
        assert_eq!(reserved("default"), Some(Reserved::Default));
        assert_eq!(reserved("defaults"), None);
        assert!(is_reserved("Default") && !is_reserved("admin"));
        assert!(!Reserved::Root.writable() && !Reserved::Root.deletable());
        assert!(Reserved::Default.writable() && !Reserved::Default.deletable());
    }
}
