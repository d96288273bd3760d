//! What reaches storage: every multi-record change is one batch, a failed batch leaves
//! nothing behind, concurrent writers are serialised, and corrupt records do not leak.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lessor_sdk::Operation::{Create, Read, Update};
use lessor_sdk::testing::MemoryMountStorage;
use lessor_sdk::{EngineError, MountStorage, StorageError, StorageOp};
use serde_json::json;

use super::Harness;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Put(String),
    Delete(String),
    /// `("put" | "delete", key)` for each op of the batch.
    Apply(Vec<(&'static str, String)>),
}

/// Storage that records every write, can refuse batches, and yields before each read so
/// concurrent requests interleave at every await.
#[derive(Debug, Default)]
struct Recording {
    inner: Arc<MemoryMountStorage>,
    calls: Mutex<Vec<Call>>,
    fail_apply: AtomicBool,
}

impl Recording {
    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl MountStorage for Recording {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        tokio::task::yield_now().await;
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.calls.lock().unwrap().push(Call::Put(key.into()));
        self.inner.put(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.calls.lock().unwrap().push(Call::Delete(key.into()));
        self.inner.delete(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }

    async fn apply(&self, ops: Vec<StorageOp>) -> Result<(), StorageError> {
        let summary = ops
            .iter()
            .map(|op| match op {
                StorageOp::Put { key, .. } => ("put", key.clone()),
                StorageOp::Delete { key } => ("delete", key.clone()),
            })
            .collect();
        self.calls.lock().unwrap().push(Call::Apply(summary));
        tokio::task::yield_now().await;
        if self.fail_apply.load(Ordering::SeqCst) {
            return Err(StorageError("injected failure".into()));
        }
        self.inner.apply(ops).await
    }
}

fn recorded() -> (Harness, Arc<Recording>) {
    let recording = Arc::new(Recording::default());
    let harness = Harness::over(recording.inner.clone(), recording.clone());
    (harness, recording)
}

fn batch(ops: &[(&'static str, &str)]) -> Call {
    Call::Apply(
        ops.iter()
            .map(|(kind, key)| (*kind, (*key).to_string()))
            .collect(),
    )
}

#[tokio::test]
async fn a_version_and_its_metadata_are_one_batch() {
    let (kv, storage) = recorded();
    kv.ok(Create, "data/a", json!({"data": {"v": 1}})).await;
    assert_eq!(
        storage.take_calls(),
        vec![batch(&[("put", "versions/a/1"), ("put", "metadata/a")])]
    );

    // Pruning deletes the old data in the same batch as the new version.
    kv.ok(Update, "metadata/a", json!({"max_versions": 1}))
        .await;
    storage.take_calls();
    kv.ok(Update, "data/a", json!({"data": {"v": 2}})).await;
    assert_eq!(
        storage.take_calls(),
        vec![batch(&[
            ("put", "versions/a/2"),
            ("delete", "versions/a/1"),
            ("put", "metadata/a"),
        ])]
    );

    // So do destroy and metadata delete.
    kv.ok(Update, "destroy/a", json!({"versions": [2]})).await;
    assert_eq!(
        storage.take_calls(),
        vec![batch(&[("delete", "versions/a/2"), ("put", "metadata/a")])]
    );
    kv.ok(Update, "data/a", json!({"data": {"v": 3}})).await;
    storage.take_calls();
    kv.ok(lessor_sdk::Operation::Delete, "metadata/a", json!({}))
        .await;
    assert_eq!(
        storage.take_calls(),
        vec![batch(&[
            ("delete", "versions/a/3"),
            ("delete", "metadata/a")
        ])]
    );
}

#[tokio::test]
async fn a_failed_batch_leaves_no_partial_version() {
    let (kv, storage) = recorded();
    kv.ok(Create, "data/f", json!({"data": {"v": 1}})).await;
    let before = kv.stored_keys();

    storage.fail_apply.store(true, Ordering::SeqCst);
    let result = kv.call(Update, "data/f", json!({"data": {"v": 2}})).await;
    assert!(matches!(result, Err(EngineError::Storage(_))), "{result:?}");
    let result = kv.call(Create, "data/new", json!({"data": {"v": 1}})).await;
    assert!(matches!(result, Err(EngineError::Storage(_))), "{result:?}");
    storage.fail_apply.store(false, Ordering::SeqCst);

    assert_eq!(kv.stored_keys(), before);
    let latest = kv.ok(Read, "data/f", json!({})).await;
    assert_eq!(latest["metadata"]["version"], 1);
    assert_eq!(latest["data"]["v"], 1);
    kv.not_found(Read, "data/new", json!({})).await;
    // The next write takes the version number the failed one would have had.
    assert_eq!(
        kv.ok(Update, "data/f", json!({"data": {"v": 2}})).await["version"],
        2
    );
}

#[tokio::test]
async fn concurrent_check_and_set_writes_have_one_winner() {
    let (kv, _storage) = recorded();
    let body = || json!({"data": {"v": 1}, "options": {"cas": 0}});
    let (a, b, c, d) = tokio::join!(
        kv.call(Create, "data/race", body()),
        kv.call(Create, "data/race", body()),
        kv.call(Create, "data/race", body()),
        kv.call(Create, "data/race", body()),
    );
    let winners = [a, b, c, d].into_iter().filter(Result::is_ok).count();
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn concurrent_writes_each_get_their_own_version() {
    let (kv, _storage) = recorded();
    let write = |n: i32| kv.call(Update, "data/many", json!({"data": {"n": n}}));
    let (a, b, c, d) = tokio::join!(write(1), write(2), write(3), write(4));
    let mut versions: Vec<u64> = [a, b, c, d]
        .into_iter()
        .map(|result| {
            let data = result.unwrap().data.unwrap();
            data["version"].as_u64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    assert_eq!(
        kv.ok(Read, "metadata/many", json!({})).await["current_version"],
        4
    );
}

#[tokio::test]
async fn corrupt_version_data_is_an_internal_error_that_leaks_nothing() {
    let kv = Harness::new();
    kv.ok(Create, "data/c", json!({"data": {"v": 1}})).await;
    kv.memory
        .put("versions/c/1", br#"{"data": "hunter2-secret"}"#)
        .await
        .unwrap();
    match kv.call(Read, "data/c", json!({})).await {
        Err(EngineError::Internal(message)) => {
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.contains("versions/c/1"), "{message}");
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
}
