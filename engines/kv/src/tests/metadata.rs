//! `metadata/` and `config`: shapes, settings, custom metadata, listing and deletion.

use lessor_sdk::Operation::{Create, Delete, List, Patch, Read, Update};
use serde_json::{Value, json};

use super::{Harness, T0_TEXT};

#[tokio::test]
async fn metadata_read_has_every_vault_field() {
    let kv = Harness::new();
    kv.ok(Create, "data/app", json!({"data": {"a": 1}})).await;
    kv.advance(2);
    kv.ok(Update, "data/app", json!({"data": {"a": 2}})).await;
    let meta = kv.ok(Read, "metadata/app", json!({})).await;
    assert_eq!(
        meta,
        json!({
            "cas_required": false,
            "created_time": T0_TEXT,
            "current_version": 2,
            "custom_metadata": null,
            "delete_version_after": "0s",
            "max_versions": 0,
            "oldest_version": 0,
            "updated_time": "2024-05-01T12:00:02.123456789Z",
            "versions": {
                "1": {"created_time": T0_TEXT, "deletion_time": "", "destroyed": false},
                "2": {
                    "created_time": "2024-05-01T12:00:02.123456789Z",
                    "deletion_time": "",
                    "destroyed": false
                },
            },
        })
    );
    kv.not_found(Read, "metadata/missing", json!({})).await;
}

#[tokio::test]
async fn metadata_write_sets_key_settings() {
    let kv = Harness::new();
    let response = kv
        .ok(
            Create,
            "metadata/s",
            json!({
                "max_versions": "5",
                "cas_required": "true",
                "delete_version_after": "1h30m",
                "custom_metadata": {"owner": "jdoe", "tier": 1},
            }),
        )
        .await;
    assert_eq!(response, Value::Null);
    let meta = kv.ok(Read, "metadata/s", json!({})).await;
    assert_eq!(meta["max_versions"], 5);
    assert_eq!(meta["cas_required"], true);
    assert_eq!(meta["delete_version_after"], "1h30m0s");
    assert_eq!(
        meta["custom_metadata"],
        json!({"owner": "jdoe", "tier": "1"})
    );
    assert_eq!(meta["current_version"], 0);
    assert_eq!(meta["versions"], json!({}));

    // Custom metadata shows on every version read and write.
    let written = kv
        .ok(
            Update,
            "data/s",
            json!({"data": {"a": 1}, "options": {"cas": 0}}),
        )
        .await;
    assert_eq!(written["custom_metadata"]["owner"], "jdoe");

    // A full write replaces custom_metadata; other settings stay.
    kv.ok(
        Update,
        "metadata/s",
        json!({"custom_metadata": {"team": "x"}}),
    )
    .await;
    let meta = kv.ok(Read, "metadata/s", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"team": "x"}));
    assert_eq!(meta["max_versions"], 5);
    assert_eq!(meta["current_version"], 1);
}

#[tokio::test]
async fn metadata_write_with_nothing_creates_nothing() {
    let kv = Harness::new();
    kv.ok(Create, "metadata/empty", json!({})).await;
    assert!(kv.stored_keys().is_empty());
}

#[tokio::test]
async fn metadata_write_rejects_bad_settings() {
    let kv = Harness::new();
    for body in [
        json!({"max_versions": -1}),
        json!({"max_versions": "many"}),
        json!({"cas_required": "perhaps"}),
        json!({"delete_version_after": "-5s"}),
        json!({"delete_version_after": "soon"}),
        json!({"custom_metadata": "owner=jdoe"}),
        json!({"custom_metadata": {"owner": null}}),
        json!({"custom_metadata": {"owner": ""}}),
        json!({"versions": {}}),
    ] {
        kv.invalid(Update, "metadata/bad", body).await;
    }
    kv.invalid(Update, "metadata/", json!({"max_versions": 1}))
        .await;
    assert!(kv.stored_keys().is_empty());
}

#[tokio::test]
async fn cas_required_false_under_a_cas_mount_warns() {
    let kv = Harness::new();
    kv.ok(Update, "config", json!({"cas_required": true})).await;
    let response = kv
        .call(Update, "metadata/w", json!({"cas_required": false}))
        .await
        .unwrap();
    assert!(response.data.is_none());
    assert_eq!(response.warnings.len(), 1);
    assert!(response.warnings[0].contains("cas_required"));
}

#[tokio::test]
async fn metadata_patch_changes_only_what_is_given() {
    let kv = Harness::new();
    kv.not_found(Patch, "metadata/p", json!({"max_versions": 3}))
        .await;
    kv.ok(
        Create,
        "metadata/p",
        json!({"max_versions": 4, "custom_metadata": {"a": "1", "b": "2"}}),
    )
    .await;
    kv.ok(
        Patch,
        "metadata/p",
        json!({"cas_required": true, "custom_metadata": {"a": null, "c": "3"}}),
    )
    .await;
    let meta = kv.ok(Read, "metadata/p", json!({})).await;
    assert_eq!(meta["max_versions"], 4);
    assert_eq!(meta["cas_required"], true);
    assert_eq!(meta["custom_metadata"], json!({"b": "2", "c": "3"}));
}

#[tokio::test]
async fn metadata_delete_removes_every_version_and_the_key() {
    let kv = Harness::new();
    kv.ok(Create, "data/gone", json!({"data": {"a": 1}})).await;
    kv.ok(Update, "data/gone", json!({"data": {"a": 2}})).await;
    kv.ok(Create, "data/stay", json!({"data": {"a": 1}})).await;
    kv.ok(Delete, "metadata/gone", json!({})).await;
    assert_eq!(kv.stored_keys(), vec!["metadata/stay", "versions/stay/1"]);
    kv.not_found(Read, "data/gone", json!({})).await;
    kv.not_found(Read, "metadata/gone", json!({})).await;
    // A second delete is a no-op; a new write starts again at version 1.
    kv.ok(Delete, "metadata/gone", json!({})).await;
    assert_eq!(
        kv.ok(Create, "data/gone", json!({"data": {}})).await["version"],
        1
    );
}

#[tokio::test]
async fn list_shows_keys_and_directories() {
    let kv = Harness::new();
    kv.not_found(List, "metadata/", json!({})).await;
    for path in ["app", "app/db", "app/cache/redis", "team/a", "zeta"] {
        kv.ok(Create, &format!("data/{path}"), json!({"data": {"x": 1}}))
            .await;
    }
    let root = kv.ok(List, "metadata/", json!({})).await;
    assert_eq!(root, json!({"keys": ["app", "app/", "team/", "zeta"]}));
    let app = kv.ok(List, "metadata/app/", json!({})).await;
    assert_eq!(app, json!({"keys": ["cache/", "db"]}));
    // Without the trailing slash, and with `?list=true` passed through.
    let app = kv.ok(List, "metadata/app", json!({"list": "true"})).await;
    assert_eq!(app["keys"], json!(["cache/", "db"]));
    assert_eq!(
        kv.ok(List, "metadata/app/cache", json!({})).await["keys"],
        json!(["redis"])
    );
    kv.not_found(List, "metadata/nope/", json!({})).await;
    kv.invalid(List, "metadata/a/../", json!({})).await;
    // Deleting the last key of a directory makes the directory disappear.
    kv.ok(Delete, "metadata/team/a", json!({})).await;
    let root = kv.ok(List, "metadata/", json!({})).await;
    assert_eq!(root["keys"], json!(["app", "app/", "zeta"]));
}

#[tokio::test]
async fn config_defaults_and_updates() {
    let kv = Harness::new();
    let defaults = kv.ok(Read, "config", json!({})).await;
    assert_eq!(
        defaults,
        json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 0})
    );
    kv.ok(
        Update,
        "config",
        json!({"max_versions": 7, "delete_version_after": "90s"}),
    )
    .await;
    let config = kv.ok(Read, "config", json!({})).await;
    assert_eq!(config["max_versions"], 7);
    assert_eq!(config["delete_version_after"], "1m30s");
    assert_eq!(config["cas_required"], false);

    kv.ok(Update, "config", json!({"delete_version_after": -30}))
        .await;
    assert_eq!(
        kv.ok(Read, "config", json!({})).await["delete_version_after"],
        "-1s"
    );
    kv.ok(Update, "config", json!({"delete_version_after": "0"}))
        .await;
    assert_eq!(
        kv.ok(Read, "config", json!({})).await["delete_version_after"],
        "0s"
    );

    kv.invalid(Update, "config", json!({"max_versions": -1}))
        .await;
    kv.invalid(Update, "config", json!({"metadata_cas_required": true}))
        .await;
    kv.invalid(Read, "config", json!({"x": 1})).await;
    assert_eq!(kv.ok(Read, "config", json!({})).await["max_versions"], 7);
}
