//! The shape of the key space, shared by every backend: which keys are valid, the exclusive
//! upper bound of a prefix range, and Vault list semantics computed from a sorted range scan.
//!
//! Keys are compared bytewise. For UTF-8 that is also code-point order, which is what lets the
//! bounds below be built from `char`s and still be valid strings to bind as `text`.

use std::future::Future;

use crate::{Op, StorageError};

/// Longest key accepted, in bytes. PostgreSQL's B-tree refuses index entries above roughly a
/// third of a page (~2.7 KB); a limit safely below that keeps all backends interchangeable.
pub const MAX_KEY_LEN: usize = 2048;

/// How many keys a listing fetches per query.
pub(crate) const LIST_BATCH: usize = 1000;

pub(crate) fn validate_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::InvalidKey("key is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StorageError::InvalidKey("key is longer than 2048 bytes"));
    }
    if key.contains('\0') {
        return Err(StorageError::InvalidKey("key contains a NUL character"));
    }
    Ok(())
}

/// Validates every key of a batch before any backend starts writing, so a bad batch fails
/// without side effects even where the backend has no transactions.
pub(crate) fn validate_ops(ops: &[Op]) -> Result<(), StorageError> {
    ops.iter().try_for_each(|op| validate_key(op.key()))
}

pub(crate) fn validate_list_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.contains('\0') {
        return Err(StorageError::InvalidPrefix(
            "prefix contains a NUL character",
        ));
    }
    Ok(())
}

pub(crate) fn validate_delete_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.is_empty() {
        return Err(StorageError::InvalidPrefix(
            "refusing to delete with an empty prefix (it would wipe the whole store)",
        ));
    }
    validate_list_prefix(prefix)
}

/// The smallest string greater than every string starting with `prefix`, or `None` when no
/// such string exists (empty prefix, or a prefix made only of U+10FFFF): then the range is
/// unbounded above.
pub(crate) fn upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = next_char(last) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The next Unicode scalar value; surrogates are not scalar values and are skipped.
fn next_char(c: char) -> Option<char> {
    match c {
        '\u{D7FF}' => Some('\u{E000}'),
        char::MAX => None,
        _ => char::from_u32(u32::from(c) + 1),
    }
}

/// Vault list semantics over a sorted range scan, skipping over whole sub-directories.
///
/// `fetch(lower)` must return, in bytewise order, at most `batch` keys `k` with
/// `lower <= k < upper_bound(prefix)`. When a key reveals a sub-directory, the scan jumps past
/// everything below it, so listing a directory costs one query per child directory plus one
/// per `batch` leaves, not one row per descendant (the lease index has millions of those).
/// Children come out in sorted order because the scan is sorted: a child directory `d/` sorts
/// exactly where its first descendant does relative to every other child.
pub(crate) async fn list_children<F, Fut>(
    prefix: &str,
    batch: usize,
    mut fetch: F,
) -> Result<Vec<String>, StorageError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Vec<String>, StorageError>>,
{
    validate_list_prefix(prefix)?;
    let mut children = Vec::new();
    let mut lower = prefix.to_owned();
    loop {
        let keys = fetch(lower.clone()).await?;
        let full = keys.len() >= batch;
        let mut skip_to = None;
        for key in &keys {
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            match rest.find('/') {
                Some(slash) => {
                    children.push(rest[..=slash].to_owned());
                    // '0' is the character right after '/': the first key past this directory.
                    skip_to = Some(format!("{prefix}{}0", &rest[..slash]));
                    break;
                }
                // A key equal to the prefix itself is not a child of it.
                None if rest.is_empty() => {}
                None => children.push(rest.to_owned()),
            }
        }
        lower = match (skip_to, keys.last()) {
            (Some(next), _) => next,
            // U+0001 is the smallest key after `last`: keys never contain NUL.
            (None, Some(last)) if full => format!("{last}\u{1}"),
            _ => return Ok(children),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("a").is_ok());
        assert!(validate_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(matches!(validate_key(""), Err(StorageError::InvalidKey(_))));
        assert!(matches!(
            validate_key("a\0b"),
            Err(StorageError::InvalidKey(_))
        ));
        assert!(matches!(
            validate_key(&"k".repeat(MAX_KEY_LEN + 1)),
            Err(StorageError::InvalidKey(_))
        ));
        assert!(validate_delete_prefix("").is_err());
        assert!(validate_list_prefix("").is_ok());
    }

    #[test]
    fn upper_bound_is_the_next_string_after_the_prefix_range() {
        assert_eq!(upper_bound(""), None);
        assert_eq!(upper_bound("a/").as_deref(), Some("a0"));
        assert_eq!(upper_bound("a%").as_deref(), Some("a&"));
        assert_eq!(upper_bound("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        assert_eq!(upper_bound("x\u{10FFFF}").as_deref(), Some("y"));
        assert_eq!(upper_bound("\u{10FFFF}\u{10FFFF}"), None);
        // Bytewise: every extension of the prefix sorts below the bound.
        for prefix in ["a/", "é", "x\u{D7FF}", "q\u{10FFFF}"] {
            let bound = upper_bound(prefix).unwrap();
            for tail in ["", "\u{1}", "zzz", "\u{10FFFF}\u{10FFFF}"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < bound.as_bytes(), "{key:?} !< {bound:?}");
            }
        }
    }

    /// Simple oracle: every key under the prefix, cut at the first '/', deduplicated.
    fn naive_list(keys: &[&str], prefix: &str) -> Vec<String> {
        let mut out: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(prefix))
            .filter(|rest| !rest.is_empty())
            .map(|rest| match rest.find('/') {
                Some(i) => rest[..=i].to_owned(),
                None => rest.to_owned(),
            })
            .collect();
        out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        out.dedup();
        out
    }

    async fn scan_list(sorted: &[&str], prefix: &str, batch: usize) -> Vec<String> {
        let upper = upper_bound(prefix);
        let mut queries = 0;
        let out = list_children(prefix, batch, |lower| {
            queries += 1;
            let keys: Vec<String> = sorted
                .iter()
                .filter(|k| k.as_bytes() >= lower.as_bytes())
                .filter(|k| upper.as_ref().is_none_or(|u| k.as_bytes() < u.as_bytes()))
                .take(batch)
                .map(|k| (*k).to_owned())
                .collect();
            async move { Ok(keys) }
        })
        .await
        .unwrap();
        assert!(
            queries <= sorted.len() + 1,
            "scan did not terminate sensibly"
        );
        out
    }

    #[tokio::test]
    async fn skip_scan_matches_the_naive_listing_for_every_batch_size() {
        let mut keys = vec![
            "a",
            "a/",
            "a/b",
            "a/c/d",
            "a/c/e",
            "a-b",
            "a0",
            "ab/x",
            "b",
            "b/1",
            "b/2",
            "b/3",
            "c%/1",
            "c_/2",
            "cq/3",
            "u/é",
            "u/ü/1",
            "u/\u{FFFF}",
            "u/z",
            "u/\u{10FFFF}/k",
        ];
        keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for prefix in [
            "",
            "a/",
            "a/c/",
            "b/",
            "c%/",
            "c_/",
            "u/",
            "u/\u{10FFFF}/",
            "none/",
            "a",
        ] {
            let expected = naive_list(&keys, prefix);
            for batch in [1, 2, 3, 1000] {
                assert_eq!(
                    scan_list(&keys, prefix, batch).await,
                    expected,
                    "{prefix:?} batch {batch}"
                );
            }
        }
    }
}
