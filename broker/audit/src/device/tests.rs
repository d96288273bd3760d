use serde_json::Value;

use super::*;
use crate::chain::{Broken, VerifyError, verify};
use crate::entry::{EntryType, Request};
use crate::redact::Hasher;

fn device(path: &Path) -> Device {
    Device::new(
        Sink::File {
            path: path.to_path_buf(),
            mode: 0o600,
        },
        Redaction::new(Hasher::new(b"device-salt").unwrap(), false, true),
    )
}

fn entry(id: &str) -> Entry<'_> {
    Entry {
        kind: EntryType::Request,
        time: "2025-01-01T00:00:00Z",
        auth: None,
        request: Request {
            id,
            operation: "read",
            path: "secret/data/app",
            remote_address: None,
            client_token: Some("hvs.caller-token"),
            client_token_accessor: None,
            data: None,
        },
        response: None,
        error: None,
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn verify_file(path: &Path) -> Result<crate::Verified, VerifyError> {
    verify(std::io::BufReader::new(File::open(path).unwrap()))
}

#[test]
fn lines_are_chained_hashed_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let first = device(&path);
    first.log(&entry("1")).unwrap();
    first.log(&entry("2")).unwrap();
    first.reopen().unwrap();
    first.log(&entry("3")).unwrap();
    drop(first);
    // A new device (a broker restart) continues the same chain.
    device(&path).log(&entry("4")).unwrap();
    assert_eq!(verify_file(&path).unwrap().lines, 4);
    let lines = read_lines(&path);
    assert_eq!(lines[3]["request"]["id"], "4");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hvs.caller-token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_rotated_file_is_followed_by_a_fresh_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let rotated = dir.path().join("audit.log.1");
    let device = device(&path);
    device.log(&entry("1")).unwrap();
    std::fs::rename(&path, &rotated).unwrap();
    // Until reopened, lines still go to the renamed file (the open handle).
    device.log(&entry("2")).unwrap();
    device.reopen().unwrap();
    device.log(&entry("3")).unwrap();
    assert_eq!(verify_file(&rotated).unwrap().lines, 2);
    assert_eq!(verify_file(&path).unwrap().lines, 1);
    assert_eq!(read_lines(&path)[0]["prev_hash"], GENESIS);
}

#[test]
fn a_failing_path_fails_the_write_and_recovers_once_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let device = device(&path);
    device.log(&entry("1")).unwrap();
    // Make the path unusable in a way that holds even for root: a directory in its place.
    std::fs::rename(&path, dir.path().join("old.log")).unwrap();
    std::fs::create_dir(&path).unwrap();
    let error = device.reopen().unwrap_err();
    assert!(error.to_string().contains("audit.log"), "{error}");
    assert!(!device.is_open());
    assert!(device.log(&entry("2")).is_err());
    std::fs::remove_dir(&path).unwrap();
    device.log(&entry("3")).unwrap();
    assert!(device.is_open());
    assert_eq!(verify_file(&path).unwrap().lines, 1);
}

#[test]
fn a_torn_last_line_is_kept_for_verify_and_new_lines_start_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    device(&path).log(&entry("1")).unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"{\"time\":\"2025-").unwrap();
    drop(file);
    device(&path).log(&entry("2")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(serde_json::from_str::<Value>(text.lines().nth(2).unwrap()).is_ok());
    match verify_file(&path) {
        Err(VerifyError::Broken { line, reason }) => {
            assert_eq!((line, reason), (2, Broken::NotAnEntry));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_last_line_is_found_across_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let long = "x".repeat(20_000);
    std::fs::write(&path, format!("first\n{long}\n")).unwrap();
    let mut file = File::open(&path).unwrap();
    let (line, torn) = last_line(&mut file).unwrap();
    assert_eq!(line.unwrap().len(), 20_000);
    assert!(!torn);
    std::fs::write(&path, "only-line-no-newline").unwrap();
    let (line, torn) = last_line(&mut File::open(&path).unwrap()).unwrap();
    assert_eq!(line.unwrap(), b"only-line-no-newline");
    assert!(torn);
}

#[test]
fn audit_hash_matches_the_logged_value_even_under_log_raw() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let device = device(&path);
    device.log(&entry("1")).unwrap();
    assert_eq!(
        read_lines(&path)[0]["request"]["client_token"],
        device.hash("hvs.caller-token")
    );
    let raw = Device::new(
        Sink::Stdout,
        Redaction::new(Hasher::new(b"device-salt").unwrap(), true, true),
    );
    assert_eq!(
        raw.hash("hvs.caller-token"),
        device.hash("hvs.caller-token")
    );
}
