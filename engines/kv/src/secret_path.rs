//! Secret paths as clients name them (`app/db/config`), validated before they become part of
//! a storage key.
//!
//! A path is a `/`-separated list of non-empty segments; `.` and `..` segments and control
//! characters are refused so a path can never alias another key or smuggle anything into
//! logs. A directory (the target of a LIST) is the same thing with a trailing `/`, or empty
//! for the mount's root.

use std::fmt;

use crate::error::KvError;

/// The longest path accepted; storage keys add a short prefix and suffix to it.
const MAX_PATH_LEN: usize = 4096;

/// A validated secret path: non-empty, no leading, trailing or doubled slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretPath(String);

impl SecretPath {
    pub(crate) fn parse(raw: &str) -> Result<Self, KvError> {
        if raw.is_empty() {
            return Err(KvError::invalid("missing path"));
        }
        check_chars(raw)?;
        for segment in raw.split('/') {
            check_segment(segment)?;
        }
        Ok(Self(raw.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated directory for listing: empty (the root) or segments followed by `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directory(String);

impl Directory {
    /// Accepts `dir` and `dir/` alike: Vault's HTTP layer adds the slash to LIST paths.
    pub(crate) fn parse(raw: &str) -> Result<Self, KvError> {
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return Ok(Self(String::new()));
        }
        let path = SecretPath::parse(trimmed)?;
        Ok(Self(format!("{}/", path.0)))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_chars(raw: &str) -> Result<(), KvError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(KvError::invalid(format!(
            "path is longer than {MAX_PATH_LEN} bytes"
        )));
    }
    if raw.chars().any(char::is_control) {
        return Err(KvError::invalid("path contains control characters"));
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), KvError> {
    match segment {
        "" => Err(KvError::invalid(
            "path has an empty segment (leading, trailing or doubled '/')",
        )),
        "." | ".." => Err(KvError::invalid(
            "path may not contain '.' or '..' segments",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_paths() {
        assert_eq!(SecretPath::parse("a").unwrap().as_str(), "a");
        assert_eq!(
            SecretPath::parse("app/db/cfg").unwrap().as_str(),
            "app/db/cfg"
        );
        assert_eq!(SecretPath::parse("a.b/..c").unwrap().as_str(), "a.b/..c");
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "", "/a", "a/", "a//b", "..", "a/../b", "./a", "a\nb", "a\u{0}b", "a\tb",
        ] {
            assert!(
                matches!(SecretPath::parse(bad), Err(KvError::Invalid(_))),
                "{bad:?} should be rejected"
            );
        }
        assert!(SecretPath::parse(&"x".repeat(MAX_PATH_LEN + 1)).is_err());
    }

    #[test]
    fn directories_end_with_a_slash() {
        assert_eq!(Directory::parse("").unwrap().as_str(), "");
        assert_eq!(Directory::parse("/").unwrap().as_str(), "");
        assert_eq!(Directory::parse("dir").unwrap().as_str(), "dir/");
        assert_eq!(Directory::parse("a/b/").unwrap().as_str(), "a/b/");
        assert!(Directory::parse("a/../").is_err());
        assert!(Directory::parse("a//").is_err());
    }
}
