//! `delete/`, `undelete/`, `destroy/` and the `max_versions` window.

use lessor_sdk::Operation::{Create, Read, Update};
use serde_json::{Value, json};

use super::Harness;

async fn three_versions(kv: &Harness, path: &str) {
    for v in 1..=3 {
        kv.ok(Update, &format!("data/{path}"), json!({"data": {"v": v}}))
            .await;
    }
}

#[tokio::test]
async fn delete_and_undelete_chosen_versions() {
    let kv = Harness::new();
    three_versions(&kv, "k").await;
    assert_eq!(
        kv.ok(Update, "delete/k", json!({"versions": [1, 2]})).await,
        Value::Null
    );
    kv.not_found(Read, "data/k", json!({"version": 1})).await;
    kv.not_found(Read, "data/k", json!({"version": 2})).await;
    assert_eq!(kv.ok(Read, "data/k", json!({})).await["data"]["v"], 3);

    // The CLI sends versions as a comma-separated string.
    kv.ok(Update, "undelete/k", json!({"versions": "2"})).await;
    assert_eq!(
        kv.ok(Read, "data/k", json!({"version": 2})).await["data"]["v"],
        2
    );
    kv.not_found(Read, "data/k", json!({"version": 1})).await;
    let meta = kv.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["versions"]["2"]["deletion_time"], "");
    assert_ne!(meta["versions"]["1"]["deletion_time"], "");

    // Unknown versions and unknown keys are skipped quietly, as in Vault.
    kv.ok(Update, "delete/k", json!({"versions": [42]})).await;
    kv.ok(Update, "undelete/nothing", json!({"versions": [1]}))
        .await;
    assert!(!kv.stored_keys().iter().any(|key| key.contains("nothing")));
}

#[tokio::test]
async fn undelete_restarts_delete_version_after() {
    let kv = Harness::new();
    kv.ok(Update, "metadata/t", json!({"delete_version_after": "10m"}))
        .await;
    kv.ok(Create, "data/t", json!({"data": {"v": 1}})).await;
    kv.advance(600);
    kv.not_found(Read, "data/t", json!({})).await;
    kv.ok(Update, "undelete/t", json!({"versions": [1]})).await;
    let read = kv.ok(Read, "data/t", json!({})).await;
    assert_eq!(
        read["metadata"]["deletion_time"],
        "2024-05-01T12:20:00.123456789Z"
    );
}

#[tokio::test]
async fn destroy_removes_data_and_keeps_a_marker() {
    let kv = Harness::new();
    three_versions(&kv, "x").await;
    kv.ok(Update, "delete/x", json!({"versions": [1]})).await;
    kv.ok(Update, "destroy/x", json!({"versions": ["1", "2"]}))
        .await;
    let keys = kv.stored_keys();
    assert!(!keys.contains(&"versions/x/1".to_string()), "{keys:?}");
    assert!(!keys.contains(&"versions/x/2".to_string()), "{keys:?}");
    assert!(keys.contains(&"versions/x/3".to_string()), "{keys:?}");

    kv.not_found(Read, "data/x", json!({"version": 2})).await;
    let meta = kv.ok(Read, "metadata/x", json!({})).await;
    assert_eq!(meta["versions"]["1"]["destroyed"], true);
    assert_eq!(meta["versions"]["2"]["destroyed"], true);
    assert_eq!(meta["versions"]["3"]["destroyed"], false);

    // A destroyed version cannot be undeleted.
    kv.ok(Update, "undelete/x", json!({"versions": [1, 2]}))
        .await;
    kv.not_found(Read, "data/x", json!({"version": 2})).await;
    // Destroying the latest makes the key unreadable but keeps its history.
    kv.ok(Update, "destroy/x", json!({"versions": [3]})).await;
    kv.not_found(Read, "data/x", json!({})).await;
    assert_eq!(
        kv.ok(Read, "metadata/x", json!({})).await["current_version"],
        3
    );
}

#[tokio::test]
async fn versions_are_required() {
    let kv = Harness::new();
    three_versions(&kv, "r").await;
    for path in ["delete/r", "undelete/r", "destroy/r"] {
        let message = kv.invalid(Update, path, json!({})).await;
        assert_eq!(message, "no version number provided");
        kv.invalid(Update, path, json!({"versions": [-1]})).await;
        kv.invalid(Update, path, json!({"versions": ["x"]})).await;
        kv.invalid(Update, path, json!({"versions": [1], "other": true}))
            .await;
    }
    assert_eq!(kv.ok(Read, "data/r", json!({})).await["data"]["v"], 3);
}

#[tokio::test]
async fn max_versions_prunes_stored_data() {
    let kv = Harness::new();
    kv.ok(Update, "config", json!({"max_versions": 2})).await;
    for v in 1..=4 {
        kv.ok(Update, "data/m", json!({"data": {"v": v}})).await;
    }
    let versions: Vec<String> = kv
        .stored_keys()
        .into_iter()
        .filter(|key| key.starts_with("versions/"))
        .collect();
    assert_eq!(versions, vec!["versions/m/3", "versions/m/4"]);
    let meta = kv.ok(Read, "metadata/m", json!({})).await;
    assert_eq!(meta["current_version"], 4);
    assert_eq!(meta["oldest_version"], 3);
    let tracked: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    assert_eq!(tracked, vec!["3", "4"]);
    kv.not_found(Read, "data/m", json!({"version": 2})).await;
    assert_eq!(
        kv.ok(Read, "data/m", json!({"version": 3})).await["data"]["v"],
        3
    );
}

#[tokio::test]
async fn key_max_versions_and_the_default_of_ten() {
    let kv = Harness::new();
    kv.ok(Update, "metadata/one", json!({"max_versions": 1}))
        .await;
    kv.ok(Update, "data/one", json!({"data": {"v": 1}})).await;
    kv.ok(Update, "data/one", json!({"data": {"v": 2}})).await;
    let keys = kv.stored_keys();
    assert!(!keys.contains(&"versions/one/1".to_string()), "{keys:?}");
    assert!(keys.contains(&"versions/one/2".to_string()), "{keys:?}");

    for v in 1..=12 {
        kv.ok(Update, "data/ten", json!({"data": {"v": v}})).await;
    }
    let stored = kv
        .stored_keys()
        .into_iter()
        .filter(|key| key.starts_with("versions/ten/"))
        .count();
    assert_eq!(stored, 10);
    kv.not_found(Read, "data/ten", json!({"version": 2})).await;
    assert_eq!(
        kv.ok(Read, "data/ten", json!({"version": 3})).await["data"]["v"],
        3
    );
}
