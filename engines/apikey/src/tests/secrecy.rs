//! What is (and is not) stored: never the key, the intent before the record, the mount's
//! HMAC key kept across restarts, and the operator views.

use std::sync::Arc;

use lessor_sdk::{MountStorage, Operation, SecretEngine};
use serde_json::json;

use super::Harness;
use crate::ApiKeyEngine;
use crate::key;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn the_raw_key_never_reaches_storage() {
    let harness = Harness::new().await;
    harness
        .write_role("app", json!({"prefix": "lsk_live_", "scopes": ["a"]}))
        .await;
    let mut issued = Vec::new();
    for _ in 0..5 {
        let key = harness.issue("app").await;
        assert!(harness.is_valid(&key.key).await);
        harness
            .engine
            .renew(&harness.ctx, &key.lease, None)
            .await
            .unwrap();
        issued.push(key);
    }
    let stored = harness.stored_values().await;
    for key in &issued {
        let secret = key::parse(&key.key).unwrap().secret.to_string();
        assert!(
            stored
                .iter()
                .any(|(name, _)| *name == format!("keys/{}", key.key_id)),
            "the record is stored"
        );
        for (name, value) in &stored {
            assert!(!contains(value, &key.key), "key in {name}");
            assert!(!contains(value, &secret), "secret part in {name}");
            assert!(
                !contains(name.as_bytes(), &secret),
                "secret part in key {name}"
            );
        }
    }
}

#[tokio::test]
async fn the_intent_is_begun_before_the_record_is_stored() {
    let harness = Harness::new().await;
    harness.write_role("app", json!({})).await;
    let first = harness.issue("app").await;
    let second = harness.issue("app").await;

    assert_eq!(
        *harness.intents.absent_at_begin.lock().unwrap(),
        [true, true]
    );
    let begun = harness.intents.recording.begun();
    assert_eq!(begun.len(), 2);
    for ((lease_id, kind, payload), issued) in begun.iter().zip([&first, &second]) {
        assert!(lease_id.starts_with("creds/app"), "{lease_id}");
        assert_eq!(kind, "key");
        assert_eq!(payload["key_id"], issued.key_id.as_str());
        assert_eq!(issued.spec.intent.as_deref(), Some(lease_id.as_str()));
        let record = harness
            .data(
                Operation::Read,
                &format!("keys/{}", issued.key_id),
                json!({}),
            )
            .await;
        assert_eq!(record["lease_id"], lease_id.as_str());
    }
}

#[tokio::test]
async fn operators_see_metadata_only() {
    let harness = Harness::new().await;
    harness
        .write_role("app", json!({"scopes": ["s"], "metadata": {"team": "t"}}))
        .await;
    let issued = harness.issue("app").await;
    let secret = key::parse(&issued.key).unwrap().secret.to_string();
    let data = harness
        .data(
            Operation::Read,
            &format!("keys/{}", issued.key_id),
            json!({}),
        )
        .await;
    assert_eq!(data["role"], "app");
    assert_eq!(data["scopes"], json!(["s"]));
    assert_eq!(data["metadata"], json!({"team": "t"}));
    assert_eq!(data["expired"], false);
    assert!(!data.contains_key("key") && !data.contains_key("hmac"));
    let text = serde_json::to_string(&data).unwrap();
    assert!(!text.contains(&secret));
    let record = String::from_utf8(
        harness
            .memory
            .get(&format!("keys/{}", issued.key_id))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let hmac: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert!(!text.contains(hmac["hmac"].as_str().unwrap()));

    let list = harness
        .data(Operation::List, "roles/app/keys/", json!({}))
        .await;
    assert_eq!(list["keys"], json!([issued.key_id]));
    harness
        .engine
        .revoke(&harness.ctx, &issued.lease)
        .await
        .unwrap();
    let list = harness
        .data(Operation::List, "roles/app/keys/", json!({}))
        .await;
    assert_eq!(list["keys"], json!([]));
    assert!(matches!(
        harness
            .call(
                Operation::Read,
                &format!("keys/{}", issued.key_id),
                json!({})
            )
            .await,
        Err(lessor_sdk::EngineError::NotFound)
    ));
    super::invalid_request(harness.call(Operation::Read, "keys/short", json!({})).await);
}

#[tokio::test]
async fn the_hmac_key_is_created_once_and_survives_a_restart() {
    let harness = Harness::new().await;
    let created = harness
        .memory
        .get("config/hmac-key")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.len(), 32);
    harness.write_role("app", json!({})).await;
    let issued = harness.issue("app").await;

    // A new engine value over the same storage (a restart and unseal).
    let restarted = Harness {
        engine: ApiKeyEngine::new(),
        memory: Arc::clone(&harness.memory),
        intents: Arc::clone(&harness.intents),
        clock: Arc::clone(&harness.clock),
        ctx: harness.ctx.clone(),
    };
    restarted.engine.initialize(&restarted.ctx).await.unwrap();
    assert!(restarted.is_valid(&issued.key).await);
    assert_eq!(
        restarted
            .memory
            .get("config/hmac-key")
            .await
            .unwrap()
            .unwrap(),
        created
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_use_creates_one_hmac_key() {
    let harness = Harness::uninitialized();
    harness.write_role("app", json!({})).await;
    let issued = issue_concurrently(&harness, 8).await;
    for key in issued {
        assert!(harness.is_valid(&key).await);
    }
}

async fn issue_concurrently(harness: &Harness, count: usize) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    let harness = Arc::new(Harness {
        engine: ApiKeyEngine::new(),
        memory: Arc::clone(&harness.memory),
        intents: Arc::clone(&harness.intents),
        clock: Arc::clone(&harness.clock),
        ctx: harness.ctx.clone(),
    });
    for _ in 0..count {
        let harness = Arc::clone(&harness);
        set.spawn(async move { harness.issue("app").await.key });
    }
    let keys = set.join_all().await;
    // Verify with the engine that issued them: both its cache and storage must agree.
    for key in &keys {
        assert!(harness.is_valid(key).await);
    }
    keys
}
