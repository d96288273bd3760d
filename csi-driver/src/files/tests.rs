#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use zeroize::Zeroizing;

use super::*;

fn content(text: &str, mode: u32) -> FileContent {
    FileContent {
        bytes: Zeroizing::new(text.as_bytes().to_vec()),
        mode,
    }
}

#[test]
fn generations_swap_and_old_ones_go() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path();
    let first = BTreeMap::from([
        ("user".to_string(), content("alice", 0o644)),
        ("pass".to_string(), content("one", 0o400)),
    ]);
    write_generation(target, &first, "2026_01_01_00_00_00.000000001").unwrap();
    assert_eq!(std::fs::read_to_string(target.join("pass")).unwrap(), "one");
    let mode = std::fs::metadata(target.join("pass"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o400);
    assert_eq!(
        std::fs::read_link(target.join("pass")).unwrap(),
        Path::new("..data/pass")
    );

    let second = BTreeMap::from([("pass".to_string(), content("two", 0o440))]);
    write_generation(target, &second, "2026_01_01_00_00_01.000000001").unwrap();
    assert_eq!(std::fs::read_to_string(target.join("pass")).unwrap(), "two");
    assert!(
        std::fs::symlink_metadata(target.join("user")).is_err(),
        "a dropped name stays"
    );
    let mut names: Vec<_> = std::fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["..2026_01_01_00_00_01.000000001", "..data", "pass"]);
    let current = read_current(target).unwrap();
    assert_eq!(&current["pass"].bytes[..], b"two");
    assert_eq!(current["pass"].mode, 0o440);
}

#[test]
fn token_file_is_private_and_survives_generations() {
    let dir = tempfile::tempdir().unwrap();
    store_token(dir.path(), "s.token").unwrap();
    write_generation(
        dir.path(),
        &BTreeMap::from([("a".to_string(), content("x", 0o644))]),
        "1",
    )
    .unwrap();
    write_generation(
        dir.path(),
        &BTreeMap::from([("a".to_string(), content("y", 0o644))]),
        "2",
    )
    .unwrap();
    let mode = std::fs::metadata(dir.path().join("..lessor-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(load_token(dir.path()).unwrap().as_str(), "s.token");
}
