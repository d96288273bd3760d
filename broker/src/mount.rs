//! The mount table: which secret engine or auth method lives at which path, persisted in the
//! barrier, and the longest-prefix router over it.
//!
//! Two tables exist, as in Vault: secret engines (`core/mounts`) and auth methods
//! (`core/auth`, paths under `auth/`). `sys/` and `auth/token/` are built in and cannot be
//! mounted over, unmounted or shadowed.

mod catalog;
mod router;
mod table;

pub use catalog::Catalog;
pub use router::{Mounted, MountedBackend, Router, SYSTEM_PREFIX, TOKEN_PREFIX, Target};
pub use table::{MountEntry, MountKind, MountTuning};

/// Validates and normalises a mount path given by an operator: no leading slash, exactly
/// one trailing slash, no empty, `.` or `..` segments, printable ASCII only.
pub fn normalize_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err("mount path cannot be empty".into());
    }
    if trimmed.len() > 256 {
        return Err("mount path is too long".into());
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "mount path {path:?} has an empty or relative segment"
            ));
        }
        if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "mount path {path:?} may contain only letters, digits, '-', '_' and '.'"
            ));
        }
    }
    Ok(format!("{trimmed}/"))
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn normalizes_and_rejects() {
        assert_eq!(normalize_path("secret").unwrap(), "secret/");
        assert_eq!(normalize_path("/team/kv/").unwrap(), "team/kv/");
        for bad in ["", "/", "a//b", "../x", "a/./b", "a b", "a%2f", "ü"] {
            assert!(normalize_path(bad).is_err(), "{bad:?} accepted");
        }
    }
}
