//! Tests of the unsealed barrier against the in-memory backend, reading raw storage to check
//! what actually reaches it.

use std::sync::Arc;

use lessor_storage::{Backend, MemoryBackend, Op};
use time::OffsetDateTime;

use crate::{Barrier, BarrierError, KEYRING_PATH, RootKey, UnsealedBarrier};

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

async fn fresh() -> (Arc<dyn Backend>, RootKey, Arc<UnsealedBarrier>) {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let root = RootKey::generate();
    let barrier = Barrier::new(Arc::clone(&backend));
    barrier.initialize(&root, at(1_000)).await.unwrap();
    let unsealed = barrier.unseal(&root).await.unwrap();
    (backend, root, unsealed)
}

/// Every (key, raw value) pair in the backend, walking `list` recursively.
async fn dump(backend: &Arc<dyn Backend>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        for child in backend.list(&prefix).await.unwrap() {
            let full = format!("{prefix}{child}");
            if full.ends_with('/') {
                pending.push(full);
            } else if let Some(value) = backend.get(&full).await.unwrap() {
                out.push((full, value));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn keyring_keys(barrier: &UnsealedBarrier) -> Vec<Vec<u8>> {
    let guard = barrier.keys.read().unwrap();
    let keys = guard.as_ref().unwrap();
    let status = keys.keyring.status().unwrap();
    (1..=status.term)
        .map(|term| keys.keyring.key(term).unwrap().expose_secret().to_vec())
        .collect()
}

#[tokio::test]
async fn values_round_trip_and_batches_apply() {
    let (_, _, barrier) = fresh().await;
    barrier.put("kv/a", b"alpha").await.unwrap();
    assert_eq!(barrier.get("kv/a").await.unwrap().unwrap(), b"alpha");
    assert_eq!(barrier.get("kv/missing").await.unwrap(), None);

    barrier
        .apply(vec![
            Op::Put {
                key: "kv/b".into(),
                value: b"beta".to_vec(),
            },
            Op::Put {
                key: "kv/dir/c".into(),
                value: b"gamma".to_vec(),
            },
            Op::Delete { key: "kv/a".into() },
        ])
        .await
        .unwrap();
    assert_eq!(barrier.get("kv/a").await.unwrap(), None);
    assert_eq!(barrier.get("kv/dir/c").await.unwrap().unwrap(), b"gamma");
    assert_eq!(barrier.list("kv/").await.unwrap(), vec!["b", "dir/"]);

    barrier.delete("kv/b").await.unwrap();
    assert_eq!(barrier.get("kv/b").await.unwrap(), None);
    assert_eq!(barrier.delete_prefix("kv/").await.unwrap(), 1);
    assert_eq!(barrier.get("kv/dir/c").await.unwrap(), None);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_key_fails_to_decrypt() {
    let (backend, _, barrier) = fresh().await;
    barrier.put("kv/one", b"first").await.unwrap();
    barrier.put("kv/two", b"second").await.unwrap();
    let one = backend.get("kv/one").await.unwrap().unwrap();
    let two = backend.get("kv/two").await.unwrap().unwrap();
    backend.put("kv/one", &two).await.unwrap();
    backend.put("kv/two", &one).await.unwrap();
    assert!(matches!(
        barrier.get("kv/one").await,
        Err(BarrierError::Integrity)
    ));
    assert!(matches!(
        barrier.get("kv/two").await,
        Err(BarrierError::Integrity)
    ));
}

#[tokio::test]
async fn a_flipped_bit_anywhere_in_the_stored_value_fails() {
    let (backend, _, barrier) = fresh().await;
    barrier.put("kv/x", b"attack at dawn").await.unwrap();
    let original = backend.get("kv/x").await.unwrap().unwrap();
    for byte in 0..original.len() {
        for bit in 0..8 {
            let mut tampered = original.clone();
            tampered[byte] ^= 1 << bit;
            backend.put("kv/x", &tampered).await.unwrap();
            assert!(barrier.get("kv/x").await.is_err(), "byte {byte} bit {bit}");
        }
    }
    backend.put("kv/x", &original).await.unwrap();
    assert_eq!(
        barrier.get("kv/x").await.unwrap().unwrap(),
        b"attack at dawn"
    );
}

#[tokio::test]
async fn rotation_keeps_old_terms_and_encrypts_new_writes_with_the_new_one() {
    let (backend, root, barrier) = fresh().await;
    barrier.put("kv/old", b"written in term 1").await.unwrap();
    assert_eq!(barrier.key_status().unwrap().term, 1);

    let status = barrier.rotate(at(2_000)).await.unwrap();
    assert_eq!(
        (status.term, status.install_time, status.terms),
        (2, at(2_000), 2)
    );
    barrier.put("kv/new", b"written in term 2").await.unwrap();

    let old_raw = backend.get("kv/old").await.unwrap().unwrap();
    let new_raw = backend.get("kv/new").await.unwrap().unwrap();
    assert_eq!(old_raw[1..5], 1u32.to_be_bytes());
    assert_eq!(new_raw[1..5], 2u32.to_be_bytes());
    assert_eq!(
        barrier.get("kv/old").await.unwrap().unwrap(),
        b"written in term 1"
    );

    // The rotated keyring was persisted: a fresh unseal reads both terms.
    barrier.seal();
    let reopened = Barrier::new(Arc::clone(&backend))
        .unseal(&root)
        .await
        .unwrap();
    assert_eq!(reopened.key_status().unwrap().term, 2);
    assert_eq!(
        reopened.get("kv/old").await.unwrap().unwrap(),
        b"written in term 1"
    );
    assert_eq!(
        reopened.get("kv/new").await.unwrap().unwrap(),
        b"written in term 2"
    );
}

#[tokio::test]
async fn a_wrong_root_key_does_not_unseal() {
    let (backend, _, _) = fresh().await;
    let result = Barrier::new(backend).unseal(&RootKey::generate()).await;
    assert!(matches!(result, Err(BarrierError::InvalidRootKey)));
}

#[tokio::test]
async fn initialization_happens_once_and_unseal_needs_it() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let barrier = Barrier::new(Arc::clone(&backend));
    assert!(!barrier.is_initialized().await.unwrap());
    assert!(matches!(
        barrier.unseal(&RootKey::generate()).await,
        Err(BarrierError::NotInitialized)
    ));
    let root = RootKey::generate();
    barrier.initialize(&root, at(1)).await.unwrap();
    assert!(barrier.is_initialized().await.unwrap());
    let keyring_before = backend.get(KEYRING_PATH).await.unwrap();
    assert!(matches!(
        barrier.initialize(&RootKey::generate(), at(2)).await,
        Err(BarrierError::AlreadyInitialized)
    ));
    assert_eq!(backend.get(KEYRING_PATH).await.unwrap(), keyring_before);
    assert!(barrier.unseal(&root).await.is_ok());
}

#[tokio::test]
async fn after_seal_every_operation_fails_even_through_a_cloned_handle() {
    let (_, _, barrier) = fresh().await;
    barrier.put("kv/a", b"1").await.unwrap();
    let in_flight = Arc::clone(&barrier);
    barrier.seal();
    assert!(in_flight.is_sealed());

    let sealed = |result: Result<(), BarrierError>| matches!(result, Err(BarrierError::Sealed));
    assert!(sealed(in_flight.get("kv/a").await.map(drop)));
    assert!(sealed(in_flight.put("kv/b", b"2").await));
    assert!(sealed(in_flight.delete("kv/a").await));
    assert!(sealed(in_flight.list("kv/").await.map(drop)));
    assert!(sealed(
        in_flight
            .apply(vec![Op::Delete { key: "kv/a".into() }])
            .await
    ));
    assert!(sealed(
        in_flight
            .apply(vec![Op::Put {
                key: "kv/c".into(),
                value: b"3".to_vec()
            }])
            .await
    ));
    assert!(sealed(in_flight.delete_prefix("kv/").await.map(drop)));
    assert!(sealed(in_flight.rotate(at(5)).await.map(drop)));
    assert!(sealed(in_flight.key_status().map(drop)));
    assert!(in_flight.keys.read().unwrap().is_none());
}

#[tokio::test]
async fn storage_never_holds_plaintext_or_key_material() {
    let (backend, root, barrier) = fresh().await;
    let plaintext = b"postgres-root-password-Zx81!";
    barrier
        .put("database/config/main", plaintext)
        .await
        .unwrap();
    barrier.rotate(at(3_000)).await.unwrap();
    barrier.put("kv/after-rotation", plaintext).await.unwrap();
    let mut secrets: Vec<Vec<u8>> = keyring_keys(&barrier);
    assert_eq!(secrets.len(), 2);
    secrets.push(root.expose_secret().to_vec());
    secrets.push(plaintext.to_vec());

    let stored = dump(&backend).await;
    let keys: Vec<&str> = stored.iter().map(|(key, _)| key.as_str()).collect();
    assert!(keys.contains(&KEYRING_PATH), "{keys:?}");
    assert!(keys.contains(&"database/config/main"), "{keys:?}");
    for (key, value) in &stored {
        for secret in &secrets {
            assert!(
                !contains(value, secret),
                "secret material in clear at {key}"
            );
        }
    }
}

#[tokio::test]
async fn reserved_keys_are_unreachable_through_the_barrier() {
    let (backend, _, barrier) = fresh().await;
    let keyring = backend.get(KEYRING_PATH).await.unwrap();
    assert!(matches!(
        barrier.put(KEYRING_PATH, b"x").await,
        Err(BarrierError::Reserved(_))
    ));
    assert!(matches!(
        barrier.delete(KEYRING_PATH).await,
        Err(BarrierError::Reserved(_))
    ));
    assert!(matches!(
        barrier.get(crate::ROOT_KEY_PATH).await,
        Err(BarrierError::Reserved(_))
    ));
    assert!(matches!(
        barrier
            .apply(vec![Op::Delete {
                key: crate::SEAL_CONFIG_PATH.into()
            }])
            .await,
        Err(BarrierError::Reserved(_))
    ));
    assert!(matches!(
        barrier.delete_prefix("core/").await,
        Err(BarrierError::Reserved(_))
    ));
    assert!(matches!(
        barrier.delete_prefix("").await,
        Err(BarrierError::Reserved(_))
    ));
    assert_eq!(backend.get(KEYRING_PATH).await.unwrap(), keyring);
}

#[tokio::test]
async fn writes_racing_a_rotation_all_stay_readable() {
    let (_, _, barrier) = fresh().await;
    let mut tasks = Vec::new();
    for index in 0..64 {
        let writer = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let key = format!("kv/{index}");
            writer.put(&key, key.as_bytes()).await.unwrap();
        }));
        if index % 16 == 0 {
            let rotator = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                rotator.rotate(at(10_000 + index)).await.unwrap();
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(barrier.key_status().unwrap().term, 5);
    for index in 0..64 {
        let key = format!("kv/{index}");
        assert_eq!(barrier.get(&key).await.unwrap().unwrap(), key.as_bytes());
    }
}

// ---- read cache ------------------------------------------------------------------------

/// A backend that counts reads, to tell cache hits from storage round trips.
#[derive(Debug)]
struct CountingBackend {
    inner: MemoryBackend,
    gets: std::sync::atomic::AtomicUsize,
}

impl CountingBackend {
    fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Backend for CountingBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, lessor_storage::StorageError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), lessor_storage::StorageError> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), lessor_storage::StorageError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, lessor_storage::StorageError> {
        self.inner.list(prefix).await
    }
    async fn apply(&self, ops: &[Op]) -> Result<(), lessor_storage::StorageError> {
        self.inner.apply(ops).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, lessor_storage::StorageError> {
        self.inner.delete_prefix(prefix).await
    }
}

async fn counting(
    limits: crate::CacheLimits,
) -> (Arc<CountingBackend>, RootKey, Arc<UnsealedBarrier>) {
    let backend = Arc::new(CountingBackend {
        inner: MemoryBackend::new(),
        gets: 0.into(),
    });
    let root = RootKey::generate();
    let barrier = Barrier::new(backend.clone() as Arc<dyn Backend>).with_cache_limits(limits);
    barrier.initialize(&root, at(1_000)).await.unwrap();
    let unsealed = barrier.unseal(&root).await.unwrap();
    (backend, root, unsealed)
}

#[tokio::test]
async fn repeated_reads_are_served_from_the_cache_and_writes_are_seen_at_once() {
    let (backend, _, barrier) = counting(crate::CacheLimits::default()).await;
    barrier.put("auth/token/id/a", b"v1").await.unwrap();
    let before = backend.gets();
    for _ in 0..5 {
        assert_eq!(
            barrier.get("auth/token/id/a").await.unwrap().unwrap(),
            b"v1"
        );
    }
    assert_eq!(backend.gets() - before, 1, "one miss, then hits");

    barrier.put("auth/token/id/a", b"v2").await.unwrap();
    assert_eq!(
        barrier.get("auth/token/id/a").await.unwrap().unwrap(),
        b"v2"
    );
    barrier
        .apply(vec![Op::Put {
            key: "auth/token/id/a".into(),
            value: b"v3".to_vec(),
        }])
        .await
        .unwrap();
    assert_eq!(
        barrier.get("auth/token/id/a").await.unwrap().unwrap(),
        b"v3"
    );
    barrier.delete("auth/token/id/a").await.unwrap();
    assert!(barrier.get("auth/token/id/a").await.unwrap().is_none());

    barrier.put("secret/data/x", b"x").await.unwrap();
    barrier.get("secret/data/x").await.unwrap();
    barrier.delete_prefix("secret/").await.unwrap();
    assert!(barrier.get("secret/data/x").await.unwrap().is_none());
}

#[tokio::test]
async fn a_disabled_cache_reads_storage_every_time() {
    let (backend, _, barrier) = counting(crate::CacheLimits::DISABLED).await;
    barrier.put("kv/a", b"1").await.unwrap();
    let before = backend.gets();
    for _ in 0..3 {
        barrier.get("kv/a").await.unwrap();
    }
    assert_eq!(backend.gets() - before, 3);
}

#[tokio::test]
async fn sealing_empties_the_cache() {
    let (_, _, barrier) = counting(crate::CacheLimits::default()).await;
    barrier.put("kv/a", b"1").await.unwrap();
    barrier.get("kv/a").await.unwrap();
    assert_eq!(barrier.cache.usage().0, 1);
    barrier.seal();
    assert_eq!(barrier.cache.usage(), (0, 0));
    assert!(matches!(
        barrier.get("kv/a").await,
        Err(BarrierError::Sealed)
    ));
}

#[tokio::test]
async fn reopen_sees_a_rotation_made_elsewhere_and_starts_with_an_empty_cache() {
    let (backend, root, first) = fresh().await;
    first.put("kv/a", b"1").await.unwrap();
    first.get("kv/a").await.unwrap();
    // Another node (another barrier over the same storage) rotates and writes.
    let other = Barrier::new(Arc::clone(&backend))
        .unseal(&root)
        .await
        .unwrap();
    other.rotate(at(2_000)).await.unwrap();
    other.put("kv/a", b"2").await.unwrap();
    other.put("kv/b", b"new term").await.unwrap();

    // The stale view still serves its cached value and knows only term 1.
    assert_eq!(first.get("kv/a").await.unwrap().unwrap(), b"1");
    assert!(first.get("kv/b").await.is_err(), "term 2 is unknown to it");

    let reopened = first.reopen().await.unwrap();
    assert_eq!(reopened.key_status().unwrap().term, 2);
    assert_eq!(reopened.get("kv/a").await.unwrap().unwrap(), b"2");
    assert_eq!(reopened.get("kv/b").await.unwrap().unwrap(), b"new term");
    first.seal();
    assert!(matches!(first.reopen().await, Err(BarrierError::Sealed)));
}
