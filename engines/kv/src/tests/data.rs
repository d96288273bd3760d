//! `data/` and `subkeys/`: writes, reads, check-and-set, patch, soft delete, deletion times,
//! existence and input validation.

use lessor_sdk::Operation::{Create, Delete, Patch, Read, Update};
use serde_json::{Value, json};

use super::{Harness, T0_TEXT};

#[tokio::test]
async fn write_then_read_latest_and_specific_versions() {
    let kv = Harness::new();
    let first = kv
        .ok(
            Create,
            "data/app/db",
            json!({"data": {"user": "a", "pass": "one"}}),
        )
        .await;
    assert_eq!(first["version"], 1);
    kv.advance(5);
    let second = kv
        .ok(
            Update,
            "data/app/db",
            json!({"data": {"user": "a", "pass": "two"}}),
        )
        .await;
    assert_eq!(second["version"], 2);
    assert_eq!(second["created_time"], "2024-05-01T12:00:05.123456789Z");

    let latest = kv.ok(Read, "data/app/db", json!({})).await;
    assert_eq!(latest["data"], json!({"user": "a", "pass": "two"}));
    assert_eq!(latest["metadata"]["version"], 2);

    // Query parameters arrive as strings; numbers in a body are accepted too.
    let old = kv.ok(Read, "data/app/db", json!({"version": "1"})).await;
    assert_eq!(old["data"]["pass"], "one");
    assert_eq!(old["metadata"]["version"], 1);
    let old = kv.ok(Read, "data/app/db", json!({"version": 1})).await;
    assert_eq!(old["data"]["pass"], "one");
    // version=0 (or empty) means latest, as in Vault.
    let zero = kv.ok(Read, "data/app/db", json!({"version": "0"})).await;
    assert_eq!(zero["metadata"]["version"], 2);
    let empty = kv.ok(Read, "data/app/db", json!({"version": ""})).await;
    assert_eq!(empty["metadata"]["version"], 2);

    kv.not_found(Read, "data/app/db", json!({"version": 3}))
        .await;
    kv.not_found(Read, "data/app/other", json!({})).await;
}

#[tokio::test]
async fn read_response_has_vaults_shape() {
    let kv = Harness::new();
    let written = kv
        .ok(Create, "data/shape", json!({"data": {"k": "v"}}))
        .await;
    let expected_metadata = json!({
        "created_time": T0_TEXT,
        "custom_metadata": null,
        "deletion_time": "",
        "destroyed": false,
        "version": 1,
    });
    assert_eq!(written, expected_metadata);
    let read = kv.ok(Read, "data/shape", json!({})).await;
    assert_eq!(
        read,
        json!({"data": {"k": "v"}, "metadata": expected_metadata})
    );
}

#[tokio::test]
async fn values_of_any_json_type_round_trip() {
    let kv = Harness::new();
    let data =
        json!({"n": 1.5, "list": [1, "two", null], "nested": {"deep": {"x": true}}, "nil": null});
    kv.ok(Create, "data/types", json!({"data": data})).await;
    assert_eq!(kv.ok(Read, "data/types", json!({})).await["data"], data);
}

#[tokio::test]
async fn check_and_set() {
    let kv = Harness::new();
    // cas=0: only when the key does not exist yet.
    kv.ok(
        Create,
        "data/c",
        json!({"data": {"v": 1}, "options": {"cas": 0}}),
    )
    .await;
    let message = kv
        .invalid(
            Update,
            "data/c",
            json!({"data": {"v": 2}, "options": {"cas": 0}}),
        )
        .await;
    assert_eq!(
        message,
        "check-and-set parameter did not match the current version"
    );
    kv.ok(
        Update,
        "data/c",
        json!({"data": {"v": 2}, "options": {"cas": 1}}),
    )
    .await;
    kv.ok(
        Update,
        "data/c",
        json!({"data": {"v": 3}, "options": {"cas": "2"}}),
    )
    .await;
    kv.invalid(
        Update,
        "data/c",
        json!({"data": {"v": 9}, "options": {"cas": 2}}),
    )
    .await;
    // The failed writes left nothing behind.
    let latest = kv.ok(Read, "data/c", json!({})).await;
    assert_eq!(latest["data"]["v"], 3);
    assert_eq!(latest["metadata"]["version"], 3);
}

#[tokio::test]
async fn cas_required_by_the_mount_or_the_key() {
    let kv = Harness::new();
    kv.ok(Update, "config", json!({"cas_required": true})).await;
    let message = kv
        .invalid(Create, "data/m", json!({"data": {"a": 1}}))
        .await;
    assert_eq!(message, "check-and-set parameter required for this call");
    kv.ok(
        Create,
        "data/m",
        json!({"data": {"a": 1}, "options": {"cas": 0}}),
    )
    .await;

    kv.ok(Update, "config", json!({"cas_required": false}))
        .await;
    kv.ok(Update, "data/m", json!({"data": {"a": 2}})).await;

    kv.ok(Update, "metadata/k", json!({"cas_required": true}))
        .await;
    kv.invalid(Update, "data/k", json!({"data": {"a": 1}}))
        .await;
    // The key exists (metadata only) at version 0.
    kv.ok(
        Update,
        "data/k",
        json!({"data": {"a": 1}, "options": {"cas": 0}}),
    )
    .await;
    kv.invalid(Patch, "data/k", json!({"data": {"a": 2}})).await;
    kv.ok(
        Patch,
        "data/k",
        json!({"data": {"a": 2}, "options": {"cas": 1}}),
    )
    .await;
}

#[tokio::test]
async fn patch_merges_into_a_new_version() {
    let kv = Harness::new();
    kv.ok(
        Create,
        "data/p",
        json!({"data": {"keep": "k", "drop": "d", "change": 1, "nested": {"a": 1, "b": 2}}}),
    )
    .await;
    let patched = kv
        .ok(
            Patch,
            "data/p",
            json!({"data": {"drop": null, "change": 2, "nested": {"b": null, "c": 3}, "new": "n"}}),
        )
        .await;
    assert_eq!(patched["version"], 2);
    let latest = kv.ok(Read, "data/p", json!({})).await;
    assert_eq!(
        latest["data"],
        json!({"keep": "k", "change": 2, "nested": {"a": 1, "c": 3}, "new": "n"})
    );
    // The previous version is untouched.
    let first = kv.ok(Read, "data/p", json!({"version": 1})).await;
    assert_eq!(first["data"]["drop"], "d");
}

#[tokio::test]
async fn patch_needs_a_live_latest_version() {
    let kv = Harness::new();
    kv.not_found(Patch, "data/none", json!({"data": {"a": 1}}))
        .await;
    kv.ok(Update, "metadata/empty", json!({"max_versions": 3}))
        .await;
    kv.not_found(Patch, "data/empty", json!({"data": {"a": 1}}))
        .await;
    kv.ok(Create, "data/gone", json!({"data": {"a": 1}})).await;
    kv.ok(Delete, "data/gone", json!({})).await;
    kv.not_found(Patch, "data/gone", json!({"data": {"a": 2}}))
        .await;
    kv.invalid(Patch, "data/gone", json!({})).await;
}

#[tokio::test]
async fn delete_soft_deletes_the_latest_version() {
    let kv = Harness::new();
    kv.ok(Create, "data/d", json!({"data": {"v": 1}})).await;
    kv.ok(Update, "data/d", json!({"data": {"v": 2}})).await;
    kv.advance(1);
    assert_eq!(kv.ok(Delete, "data/d", json!({})).await, Value::Null);
    kv.not_found(Read, "data/d", json!({})).await;
    kv.not_found(Read, "data/d", json!({"version": 2})).await;
    assert_eq!(
        kv.ok(Read, "data/d", json!({"version": 1})).await["data"]["v"],
        1
    );
    let meta = kv.ok(Read, "metadata/d", json!({})).await;
    assert_eq!(
        meta["versions"]["2"]["deletion_time"],
        "2024-05-01T12:00:01.123456789Z"
    );
    assert_eq!(meta["versions"]["1"]["deletion_time"], "");
    // The data is still stored: a soft delete can be undone.
    assert!(kv.stored_keys().contains(&"versions/d/2".to_string()));
    // Deleting again, or deleting nothing, is a quiet no-op.
    kv.ok(Delete, "data/d", json!({})).await;
    kv.ok(Delete, "data/nothing", json!({})).await;
    // A new write after a delete is readable again.
    kv.ok(Update, "data/d", json!({"data": {"v": 3}})).await;
    assert_eq!(kv.ok(Read, "data/d", json!({})).await["data"]["v"], 3);
}

#[tokio::test]
async fn delete_version_after_sets_a_future_deletion_time() {
    let kv = Harness::new();
    kv.ok(Update, "config", json!({"delete_version_after": "1h"}))
        .await;
    let written = kv.ok(Create, "data/t", json!({"data": {"v": 1}})).await;
    assert_eq!(written["deletion_time"], "2024-05-01T13:00:00.123456789Z");
    kv.advance(3599);
    assert_eq!(kv.ok(Read, "data/t", json!({})).await["data"]["v"], 1);
    kv.advance(1);
    kv.not_found(Read, "data/t", json!({})).await;

    // A key's own, shorter setting wins over the mount's.
    kv.ok(
        Update,
        "metadata/short",
        json!({"delete_version_after": 60}),
    )
    .await;
    let written = kv.ok(Create, "data/short", json!({"data": {"v": 1}})).await;
    assert_eq!(written["deletion_time"], "2024-05-01T13:01:00.123456789Z");

    // A negative mount setting disables deletion times everywhere.
    kv.ok(Update, "config", json!({"delete_version_after": "-1s"}))
        .await;
    let written = kv.ok(Update, "data/short", json!({"data": {"v": 2}})).await;
    assert_eq!(written["deletion_time"], "");
}

#[tokio::test]
async fn exists_tells_create_from_update() {
    let kv = Harness::new();
    assert!(!kv.exists(Create, "data/e").await);
    assert!(!kv.exists(Create, "metadata/e").await);
    kv.ok(Create, "data/e", json!({"data": {"a": 1}})).await;
    assert!(kv.exists(Update, "data/e").await);
    assert!(kv.exists(Update, "metadata/e").await);
    // Metadata without versions is an existing key, as in Vault.
    kv.ok(Create, "metadata/only", json!({"max_versions": 2}))
        .await;
    assert!(kv.exists(Update, "data/only").await);
    kv.ok(Delete, "metadata/e", json!({})).await;
    assert!(!kv.exists(Create, "data/e").await);
    // Routes without a create/update split always exist.
    assert!(kv.exists(Update, "config").await);
}

#[tokio::test]
async fn bad_inputs_are_invalid_requests() {
    let kv = Harness::new();
    kv.ok(Create, "data/ok", json!({"data": {"a": 1}})).await;
    let cases = [
        (
            Create,
            "data/x",
            json!({"data": "not an object"}),
            "data must be a JSON object",
        ),
        (
            Create,
            "data/x",
            json!({"data": [1, 2]}),
            "data must be a JSON object",
        ),
        (Create, "data/x", json!({}), "no data provided"),
        (Create, "data/x", json!({"data": null}), "no data provided"),
        (Create, "data/x", json!({"data": {}, "extra": 1}), "extra"),
        (
            Create,
            "data/x",
            json!({"data": {}, "options": 3}),
            "options must be a JSON object",
        ),
        (
            Create,
            "data/x",
            json!({"data": {}, "options": {"cass": 1}}),
            "options",
        ),
        (
            Create,
            "data/x",
            json!({"data": {}, "options": {"cas": -1}}),
            "check-and-set",
        ),
        (
            Create,
            "data/x",
            json!({"data": {}, "options": {"cas": "one"}}),
            "check-and-set",
        ),
        (
            Read,
            "data/ok",
            json!({"version": "abc"}),
            "version must be a non-negative integer",
        ),
        (
            Read,
            "data/ok",
            json!({"version": -1}),
            "version must be a non-negative integer",
        ),
        (
            Read,
            "data/ok",
            json!({"version": "-2"}),
            "version must be a non-negative integer",
        ),
        (
            Read,
            "data/ok",
            json!({"version": 1.5}),
            "version must be a non-negative integer",
        ),
        (Read, "data/ok", json!({"verison": 1}), "verison"),
        (Delete, "data/ok", json!({"force": "true"}), "force"),
        (Create, "data/", json!({"data": {}}), "missing path"),
        (Create, "data/a/../b", json!({"data": {}}), "'..'"),
        (Create, "data/a//b", json!({"data": {}}), "empty segment"),
        (Create, "data/a/", json!({"data": {}}), "empty segment"),
        (
            Create,
            "data/a\u{1b}b",
            json!({"data": {}}),
            "control characters",
        ),
        (Read, "data/../config", json!({}), "'..'"),
    ];
    for (operation, path, body, expected) in cases {
        let message = kv.invalid(operation, path, body.clone()).await;
        assert!(
            message.contains(expected),
            "{operation} {path} {body}: {message:?} should mention {expected:?}"
        );
    }
    // Nothing was written by any of them.
    assert_eq!(kv.stored_keys(), vec!["metadata/ok", "versions/ok/1"]);
}

#[tokio::test]
async fn error_messages_never_echo_secret_values() {
    let kv = Harness::new();
    let message = kv
        .invalid(Create, "data/x", json!({"data": "hunter2-secret"}))
        .await;
    assert!(!message.contains("hunter2"), "{message}");
    let message = kv
        .invalid(
            Create,
            "data/x",
            json!({"data": {}, "options": {"cas": "hunter2"}}),
        )
        .await;
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn subkeys_show_structure_without_values() {
    let kv = Harness::new();
    kv.ok(
        Create,
        "data/s",
        json!({"data": {"user": "u", "db": {"host": "h", "tls": {"ca": "pem"}}}}),
    )
    .await;
    let all = kv.ok(Read, "subkeys/s", json!({})).await;
    assert_eq!(
        all["subkeys"],
        json!({"user": null, "db": {"host": null, "tls": {"ca": null}}})
    );
    assert_eq!(all["metadata"]["version"], 1);
    let shallow = kv.ok(Read, "subkeys/s", json!({"depth": "1"})).await;
    assert_eq!(shallow["subkeys"], json!({"user": null, "db": null}));
    kv.ok(Delete, "data/s", json!({})).await;
    kv.not_found(Read, "subkeys/s", json!({})).await;
}
