//! Everything that is not a live key of this mount verifies as `{valid: false}`.

use lessor_sdk::{MountStorage, Operation};
use serde_json::json;

use super::{Harness, invalid_request};
use crate::key::{self, IssuedKey};

async fn harness_with_key() -> (Harness, String) {
    let harness = Harness::new().await;
    harness
        .write_role("app", json!({"prefix": "lsk_test_"}))
        .await;
    let key = harness.issue("app").await.key;
    assert!(harness.is_valid(&key).await);
    (harness, key)
}

fn replace_at(key: &str, position: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[position] = if bytes[position] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn one_changed_character_anywhere() {
    let (harness, key) = harness_with_key().await;
    for position in 0..key.len() {
        let tampered = replace_at(&key, position);
        assert!(
            !harness.is_valid(&tampered).await,
            "changed at {position} still valid"
        );
    }
}

#[tokio::test]
async fn a_changed_secret_with_a_recomputed_checksum() {
    // Passes the checksum, so this exercises the HMAC comparison itself.
    let (harness, key) = harness_with_key().await;
    let parsed = key::parse(&key).unwrap();
    let mut secret = parsed.secret.to_string();
    let last = if secret.ends_with('A') { "B" } else { "A" };
    secret.replace_range(secret.len() - 1.., last);
    let forged = IssuedKey::compose(parsed.prefix, parsed.key_id, &secret);
    assert!(key::parse(forged.expose()).is_some());
    assert!(!harness.is_valid(forged.expose()).await);

    // The right id and secret under another prefix.
    let forged = IssuedKey::compose("lsk_live_", parsed.key_id, parsed.secret);
    assert!(!harness.is_valid(forged.expose()).await);
}

#[tokio::test]
async fn truncated_and_extended() {
    let (harness, key) = harness_with_key().await;
    for len in [0, 1, key.len() / 2, key.len() - 7, key.len() - 1] {
        assert!(!harness.is_valid(&key[..len]).await, "truncated to {len}");
    }
    assert!(!harness.is_valid(&format!("{key}0")).await);
    assert!(!harness.is_valid(&format!(" {key}")).await);
}

#[tokio::test]
async fn a_key_from_another_mount() {
    let (harness, _) = harness_with_key().await;
    let other = Harness::new().await;
    other
        .write_role("app", json!({"prefix": "lsk_test_"}))
        .await;
    let foreign = other.issue("app").await;
    assert!(other.is_valid(&foreign.key).await);
    assert!(!harness.is_valid(&foreign.key).await);

    // Even with the other mount's record copied over, the HMAC key differs.
    let record_key = format!("keys/{}", foreign.key_id);
    let record = other.memory.get(&record_key).await.unwrap().unwrap();
    harness.memory.put(&record_key, &record).await.unwrap();
    assert!(!harness.is_valid(&foreign.key).await);
}

#[tokio::test]
async fn a_valid_checksum_but_an_unknown_id() {
    let (harness, _) = harness_with_key().await;
    let unknown = IssuedKey::mint("lsk_test_", 32);
    assert!(key::parse(unknown.expose()).is_some());
    assert!(!harness.is_valid(unknown.expose()).await);
}

#[tokio::test]
async fn garbage() {
    let (harness, _) = harness_with_key().await;
    for garbage in ["", "lsk_test_", "not-a-key", "ключ", &"a".repeat(10_000)] {
        assert!(!harness.is_valid(garbage).await, "{garbage:?}");
    }
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let (harness, key) = harness_with_key().await;
    for body in [
        json!({}),
        json!({"key": 5}),
        json!({"key": key, "role": "app"}),
    ] {
        invalid_request(harness.call(Operation::Update, "verify", body).await);
    }
}
