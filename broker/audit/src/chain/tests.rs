use super::*;

/// Three chained lines, as a device writes them.
fn file(entries: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = GENESIS.to_string();
    for entry in entries {
        let mut line = entry.as_bytes().to_vec();
        prev = seal(&mut line, &prev);
        out.extend_from_slice(&line);
    }
    out
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn broken_at(bytes: &[u8]) -> (usize, Broken) {
    match verify(bytes) {
        Err(VerifyError::Broken { line, reason }) => (line, reason),
        other => panic!("expected a broken line, got {other:?}"),
    }
}

const ENTRIES: [&str; 3] = [
    r#"{"type":"request","request":{"id":"1"}}"#,
    r#"{"type":"response","request":{"id":"1"}}"#,
    r#"{"type":"request","request":{"id":"2"}}"#,
];

#[test]
fn an_untouched_file_verifies_and_each_line_is_valid_json() {
    let bytes = file(&ENTRIES);
    let verified = verify(&bytes[..]).unwrap();
    assert_eq!(verified.lines, 3);
    let all = lines(&bytes);
    for (index, line) in all.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(value["hash"].as_str().unwrap().len(), 64);
        if index == 0 {
            assert_eq!(value["prev_hash"], GENESIS);
        } else {
            let before: serde_json::Value = serde_json::from_slice(&all[index - 1]).unwrap();
            assert_eq!(value["prev_hash"], before["hash"]);
        }
    }
    assert_eq!(
        verified.last_hash,
        claimed_hash(all.last().unwrap()).unwrap()
    );
    assert_eq!(verify(&b""[..]).unwrap().lines, 0);
}

#[test]
fn a_changed_byte_names_its_line() {
    let bytes = file(&ENTRIES);
    // Change one byte inside the second line's entry ("1" → "7").
    let second_start = lines(&bytes)[0].len();
    let offset = second_start
        + bytes[second_start..]
            .iter()
            .position(|b| *b == b'1')
            .unwrap();
    let mut tampered = bytes.clone();
    tampered[offset] = b'7';
    assert_eq!(broken_at(&tampered), (2, Broken::Changed));
}

#[test]
fn a_changed_hash_breaks_the_line_or_the_chain() {
    let bytes = file(&ENTRIES);
    let all = lines(&bytes);
    // A recomputed hash on line 1 after an edit still leaves line 2 pointing at the old one.
    let mut edited = br#"{"type":"request","request":{"id":"9"}}"#.to_vec();
    seal(&mut edited, GENESIS);
    let tampered = [edited, all[1].clone(), all[2].clone()].concat();
    assert_eq!(broken_at(&tampered), (2, Broken::ChainBroken));
}

#[test]
fn a_removed_line_names_the_line_after_it() {
    let all = lines(&file(&ENTRIES));
    let without_second = [all[0].clone(), all[2].clone()].concat();
    assert_eq!(broken_at(&without_second), (2, Broken::ChainBroken));
    let without_first = [all[1].clone(), all[2].clone()].concat();
    assert_eq!(broken_at(&without_first), (1, Broken::ChainBroken));
    let reordered = [all[0].clone(), all[2].clone(), all[1].clone()].concat();
    assert_eq!(broken_at(&reordered), (2, Broken::ChainBroken));
}

#[test]
fn torn_and_foreign_lines_are_reported() {
    let bytes = file(&ENTRIES);
    let torn = &bytes[..bytes.len() - 5];
    assert_eq!(broken_at(torn), (3, Broken::Incomplete));
    let mut foreign = file(&ENTRIES[..1]);
    foreign.extend_from_slice(b"{\"type\":\"request\"}\n");
    assert_eq!(broken_at(&foreign), (2, Broken::NotAnEntry));
    let garbage = b"not json at all\n";
    assert_eq!(broken_at(garbage), (1, Broken::NotAnEntry));
}

#[test]
fn the_error_names_the_line() {
    let all = lines(&file(&ENTRIES));
    let tampered = [all[0].clone(), all[2].clone()].concat();
    let message = verify(&tampered[..]).unwrap_err().to_string();
    assert!(message.starts_with("line 2: "), "{message}");
}
