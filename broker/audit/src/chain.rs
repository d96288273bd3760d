//! The hash chain: tamper evidence beyond Vault's format.
//!
//! Every line ends with two fields the device appends to the serialized entry:
//!
//! ```text
//! {…entry…,"prev_hash":"<hex>","hash":"<hex>"}
//! ```
//!
//! `hash` is the SHA-256 of the line without its `hash` field, i.e. of `{…entry…,"prev_hash":"<hex>"}`,
//! and `prev_hash` is the `hash` of the line before. The first line of a file carries
//! [`GENESIS`]. A device that opens a file which already has lines continues the chain from
//! the last one, so a file verifies from its first line to its last across restarts and
//! SIGHUPs; a rotated (renamed) file is followed by a fresh file that starts at genesis, so
//! each file verifies on its own.
//!
//! [`verify`] then finds a changed line (its content no longer matches its `hash`) and a
//! removed, inserted or reordered line (the next `prev_hash` no longer matches). The chain is
//! not keyed, on purpose: `lessor audit verify` needs no secret. So it proves a file is
//! internally consistent, not who wrote it; someone able to rewrite a file from the edited
//! line to the end can recompute the chain. Truncating trailing lines is not detectable from
//! the file alone either. A second device (or shipping lines off the host as they are
//! written) gives an independent copy to compare against.

use std::io::BufRead;

use sha2::{Digest, Sha256};

/// `prev_hash` of the first line of a file.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const PREV_FIELD: &[u8] = b"\"prev_hash\":\"";
const HASH_FIELD: &[u8] = b",\"hash\":\"";
const HEX_LEN: usize = 64;
/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = HASH_FIELD.len() + HEX_LEN + 2;

/// Turns a serialized entry (`{…}`) into a chained line ending in `\n`, and returns the new
/// line's hash (the next line's `prev_hash`). `prev` is the previous line's hash.
pub fn seal(body: &mut Vec<u8>, prev: &str) -> String {
    // Serialized entries always end with the object's closing brace.
    if body.last() == Some(&b'}') {
        body.pop();
    }
    if body.len() > 1 {
        body.push(b',');
    }
    body.extend_from_slice(PREV_FIELD);
    body.extend_from_slice(prev.as_bytes());
    body.extend_from_slice(b"\"}");
    let hash = hex::encode(Sha256::digest(&body[..]));
    body.pop();
    body.extend_from_slice(HASH_FIELD);
    body.extend_from_slice(hash.as_bytes());
    body.extend_from_slice(b"\"}\n");
    hash
}

/// A line split into the part its hash covers (minus the closing brace) and the hash it
/// claims. `None` when the line does not end in a well-formed `hash` field.
fn split(line: &[u8]) -> Option<(&[u8], &str)> {
    let body_len = line.len().checked_sub(HASH_SUFFIX_LEN)?;
    let (body, suffix) = line.split_at(body_len);
    let hash = suffix
        .strip_prefix(HASH_FIELD)?
        .strip_suffix(b"\"}")
        .filter(|hash| hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))?;
    Some((body, std::str::from_utf8(hash).ok()?))
}

/// The `prev_hash` a covered body ends with (`…,"prev_hash":"<hex>"`).
fn prev_hash(body: &[u8]) -> Option<&str> {
    let field_len = PREV_FIELD.len() + HEX_LEN + 1;
    let start = body.len().checked_sub(field_len)?;
    let hex = body[start..]
        .strip_prefix(PREV_FIELD)?
        .strip_suffix(b"\"")?;
    std::str::from_utf8(hex).ok()
}

/// The hash a line claims (what the next line must carry as `prev_hash`), without checking
/// it. Used when a device reopens a file to continue its chain.
pub fn claimed_hash(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    split(line).map(|(_, hash)| hash.to_string())
}

/// A file that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub lines: usize,
    /// The last line's hash ([`GENESIS`] for an empty file).
    pub last_hash: String,
}

/// Why a line fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// The last line has no newline: the writer stopped mid-line (a crash, a full disk) or the
    /// file was cut.
    Incomplete,
    /// The line is not a chained audit entry.
    NotAnEntry,
    /// The line's content does not match its `hash`: it was changed.
    Changed,
    /// `prev_hash` does not match the line before: a line was removed, inserted or reordered.
    ChainBroken,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Broken::Incomplete => "the line is incomplete (no trailing newline)",
            Broken::NotAnEntry => "not a chained audit entry",
            Broken::Changed => "the line's content does not match its hash (the line was changed)",
            Broken::ChainBroken => {
                "prev_hash does not match the line before (a line was removed, inserted or reordered)"
            }
        })
    }
}

/// Why a file does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("line {line}: {reason}")]
    Broken { line: usize, reason: Broken },
    #[error("reading the audit log: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks a whole audit file: every line is a complete JSON entry, matches its own hash, and
/// carries the previous line's hash (the first line, [`GENESIS`]). Reports the first line that
/// does not, numbered from 1.
pub fn verify(mut reader: impl BufRead) -> Result<Verified, VerifyError> {
    let mut expected_prev = GENESIS.to_string();
    let mut line = Vec::new();
    // What a line's hash covers: the line without its `hash` field, closing brace restored.
    let mut covered = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(Verified {
                lines: number,
                last_hash: expected_prev,
            });
        }
        number += 1;
        let broken = |reason| VerifyError::Broken {
            line: number,
            reason,
        };
        let Some(content) = line.strip_suffix(b"\n") else {
            return Err(broken(Broken::Incomplete));
        };
        let (body, hash) = split(content).ok_or(broken(Broken::NotAnEntry))?;
        covered.clear();
        covered.extend_from_slice(body);
        covered.push(b'}');
        if hex::encode(Sha256::digest(&covered)) != hash {
            return Err(broken(Broken::Changed));
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(&covered).is_err() {
            return Err(broken(Broken::NotAnEntry));
        }
        if prev_hash(body) != Some(expected_prev.as_str()) {
            return Err(broken(Broken::ChainBroken));
        }
        expected_prev = hash.to_string();
    }
}

#[cfg(test)]
mod tests;
