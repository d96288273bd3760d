//! The expiration manager over a real barrier on memory storage, with a manual clock and a
//! recording lease target standing in for an engine (the engines have their own tests
//! against real systems; here the subject is scheduling, retry and bookkeeping).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lessor_barrier::{Barrier, RootKey};
use lessor_sdk::{Clock, EngineError, LeaseSpec, ManualClock, RenewOutcome};
use lessor_storage::{LeaseIndex, LeaseRow, LeaseState, MemoryBackend, StorageError};
use time::macros::datetime;

use super::*;

/// Records revocations; fails the first `failures` attempts per lease.
#[derive(Debug, Default)]
struct RecordingTarget {
    revoked: Mutex<Vec<String>>,
    attempts: Mutex<HashMap<String, u32>>,
    failures: u32,
    max_ttl: Duration,
}

impl RecordingTarget {
    fn new(failures: u32) -> Arc<Self> {
        Arc::new(Self {
            failures,
            max_ttl: Duration::from_secs(3600),
            ..Self::default()
        })
    }

    fn revoked(&self) -> Vec<String> {
        self.revoked.lock().unwrap().clone()
    }
}

#[async_trait]
impl LeaseTarget for RecordingTarget {
    async fn revoke(&self, record: &LeaseRecord) -> Result<(), EngineError> {
        let mut attempts = self.attempts.lock().unwrap();
        let count = attempts.entry(record.id.clone()).or_default();
        *count += 1;
        if *count <= self.failures {
            return Err(EngineError::Upstream("target database unreachable".into()));
        }
        self.revoked.lock().unwrap().push(record.id.clone());
        Ok(())
    }

    async fn renew(
        &self,
        _record: &LeaseRecord,
        increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError> {
        Ok(RenewOutcome {
            ttl: increment.unwrap_or(Duration::from_secs(60)),
            payload: None,
            warnings: Vec::new(),
        })
    }

    fn max_lease_ttl(&self, mount: &str) -> Option<Duration> {
        (mount == "database/").then_some(self.max_ttl)
    }
}

struct Harness {
    manager: Arc<ExpirationManager>,
    clock: Arc<ManualClock>,
    target: Arc<RecordingTarget>,
    storage: Arc<MemoryBackend>,
}

async fn harness(failures: u32) -> Harness {
    let storage = Arc::new(MemoryBackend::new());
    let barrier = Barrier::new(storage.clone());
    let root = RootKey::generate();
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    barrier.initialize(&root, clock.now()).await.unwrap();
    let barrier = barrier.unseal(&root).await.unwrap();
    let target = RecordingTarget::new(failures);
    let manager = ExpirationManager::new(
        storage.clone(),
        barrier,
        clock.clone(),
        target.clone(),
        RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        },
        LEASE_CACHE,
    );
    Harness {
        manager,
        clock,
        target,
        storage,
    }
}

fn spec(ttl: u64) -> LeaseSpec {
    LeaseSpec {
        intent: None,
        kind: "creds".into(),
        ttl: Duration::from_secs(ttl),
        max_ttl: Some(Duration::from_secs(600)),
        renewable: true,
        payload: serde_json::json!({"username": "v-app-1"}),
    }
}

impl Harness {
    /// Another manager over the same storage and barrier (as after an unseal), with the
    /// default policy and cache, sending revocations to `target`.
    fn fresh_manager(&self, target: Arc<dyn LeaseTarget>) -> Arc<ExpirationManager> {
        ExpirationManager::new(
            self.storage.clone(),
            self.manager.barrier.clone(),
            self.clock.clone(),
            target,
            RetryPolicy::default(),
            LEASE_CACHE,
        )
    }

    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    /// Runs the expiry loop once and waits for the revocations it started.
    async fn tick(&self) {
        self.manager.tick().await;
        for _ in 0..200 {
            if self.manager.in_flight.lock().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("revocations did not finish");
    }
}

#[tokio::test]
async fn leases_expire_on_time_and_not_before() {
    let h = harness(0).await;
    let lease = h
        .manager
        .register("database/", "creds/app", spec(30), None)
        .await
        .unwrap();
    assert!(lease.lease_id.starts_with("database/creds/app/"));
    assert_eq!(lease.ttl, Duration::from_secs(30));
    h.tick().await;
    h.advance(29);
    h.tick().await;
    assert!(h.target.revoked().is_empty(), "revoked before expiry");
    h.advance(1);
    h.tick().await;
    assert_eq!(h.target.revoked(), vec![lease.lease_id.clone()]);
    assert!(matches!(
        h.manager.lookup(&lease.lease_id).await,
        Err(LeaseError::NotFound)
    ));
}

#[tokio::test]
async fn renewal_moves_expiry_and_is_capped_by_max_ttl() {
    let h = harness(0).await;
    let lease = h
        .manager
        .register("database/", "creds/app", spec(60), None)
        .await
        .unwrap();
    h.advance(50);
    let renewed = h
        .manager
        .renew(&lease.lease_id, Some(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(renewed.ttl, Duration::from_secs(120));
    assert!(renewed.warnings.is_empty());
    h.advance(100);
    h.tick().await;
    assert!(
        h.target.revoked().is_empty(),
        "the renewal must postpone expiry"
    );
    // 150 s into a 600 s max TTL: asking for 1000 s gets the 450 s left, with a warning.
    let capped = h
        .manager
        .renew(&lease.lease_id, Some(Duration::from_secs(1000)))
        .await
        .unwrap();
    assert_eq!(capped.ttl, Duration::from_secs(450));
    assert!(
        capped.warnings[0].contains("capped"),
        "{:?}",
        capped.warnings
    );
    h.advance(450);
    h.tick().await;
    assert_eq!(h.target.revoked(), vec![lease.lease_id.clone()]);
    let error = h.manager.renew(&lease.lease_id, None).await.unwrap_err();
    assert!(error.to_string().contains("not found"), "{error}");
}

#[tokio::test]
async fn failed_revocations_retry_then_become_irrevocable() {
    let h = harness(u32::MAX).await;
    let lease = h
        .manager
        .register("database/", "creds/app", spec(1), None)
        .await
        .unwrap();
    h.advance(1);
    h.tick().await;
    let record = h.manager.lookup(&lease.lease_id).await.unwrap();
    assert_eq!(record.attempts, 1);
    assert_eq!(record.state, LeaseState::Active);
    assert!(
        record
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable")
    );
    // Backoff: 1 s then 2 s (plus up to 25% jitter).
    h.advance(2);
    h.tick().await;
    h.advance(3);
    h.tick().await;
    let record = h.manager.lookup(&lease.lease_id).await.unwrap();
    assert_eq!(record.state, LeaseState::Irrevocable, "after max_attempts");
    assert_eq!(
        h.manager
            .count("", Some(LeaseState::Irrevocable))
            .await
            .unwrap(),
        1
    );
    assert_eq!(h.manager.irrevocable("", 10).await.unwrap().len(), 1);
    // It is kept and retried daily, not every tick.
    h.advance(3600);
    h.tick().await;
    assert_eq!(h.manager.lookup(&lease.lease_id).await.unwrap().attempts, 3);
    // revoke-force removes it without the engine.
    assert_eq!(h.manager.revoke_force("database/").await.unwrap(), 1);
    assert_eq!(h.manager.count("", None).await.unwrap(), 0);
}

#[tokio::test]
async fn transient_failures_recover_without_becoming_irrevocable() {
    let h = harness(2).await;
    let lease = h
        .manager
        .register("database/", "creds/app", spec(1), None)
        .await
        .unwrap();
    for _ in 0..6 {
        h.advance(2);
        h.tick().await;
    }
    assert_eq!(h.target.revoked(), vec![lease.lease_id]);
    assert_eq!(
        h.manager
            .count("", Some(LeaseState::Irrevocable))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn unfinished_intents_are_revoked_and_finished_ones_become_leases() {
    let h = harness(0).await;
    let finished = h
        .manager
        .begin_intent(
            "database/",
            "creds/app",
            "creds",
            serde_json::json!({"username": "a"}),
        )
        .await
        .unwrap();
    let abandoned = h
        .manager
        .begin_intent(
            "database/",
            "creds/app",
            "creds",
            serde_json::json!({"username": "b"}),
        )
        .await
        .unwrap();
    // A pending intent is not a lease a client can see.
    assert!(h.manager.lookup(&abandoned).await.is_err());
    let registered = h
        .manager
        .register(
            "database/",
            "creds/app",
            LeaseSpec {
                intent: Some(finished.clone()),
                max_ttl: None,
                ..spec(3600)
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(registered.lease_id, finished);
    h.advance(RetryPolicy::default().intent_ttl.as_secs());
    h.tick().await;
    assert_eq!(h.target.revoked(), vec![abandoned.clone()]);
    assert!(h.manager.lookup(&finished).await.is_ok());

    // An intent that expired before registration: the credential is revoked and the
    // request fails rather than handing out an untracked credential.
    let error = h
        .manager
        .register(
            "database/",
            "creds/app",
            LeaseSpec {
                intent: Some(abandoned.clone()),
                ..spec(60)
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("intent"), "{error}");
    assert_eq!(
        h.target
            .revoked()
            .iter()
            .filter(|id| **id == abandoned)
            .count(),
        2
    );
}

#[tokio::test]
async fn owners_prefixes_and_token_expiry_caps() {
    let h = harness(0).await;
    let token_expiry = h.clock.now() + Duration::from_secs(20);
    let owned = h
        .manager
        .register(
            "database/",
            "creds/app",
            spec(300),
            Some(("tokenhash".into(), Some(token_expiry))),
        )
        .await
        .unwrap();
    assert_eq!(
        owned.ttl,
        Duration::from_secs(20),
        "a lease never outlives its token"
    );
    let other = h
        .manager
        .register("database/", "creds/other", spec(300), None)
        .await
        .unwrap();
    assert_eq!(h.manager.revoke_owner("tokenhash").await.unwrap(), 1);
    assert_eq!(h.target.revoked(), vec![owned.lease_id]);
    assert_eq!(
        h.manager.list("database/creds/").await.unwrap(),
        vec!["other/".to_string()]
    );
    assert_eq!(h.manager.revoke_prefix("database/creds/").await.unwrap(), 1);
    assert_eq!(h.target.revoked().last(), Some(&other.lease_id));
    assert!(matches!(
        h.manager.register("nowhere/", "x", spec(10), None).await,
        Err(LeaseError::Invalid(_))
    ));
}

#[tokio::test]
async fn the_sealed_record_is_the_truth_about_due_times() {
    let h = harness(0).await;
    let lease = h
        .manager
        .register("database/", "creds/app", spec(300), None)
        .await
        .unwrap();
    // Someone with database access moves the plain due time into the past.
    let mut row = h.storage.get_lease(&lease.lease_id).await.unwrap().unwrap();
    row.due_at = 0;
    h.storage.put_lease(&row).await.unwrap();
    h.tick().await;
    assert!(
        h.target.revoked().is_empty(),
        "a tampered due time must not revoke early"
    );
    let restored = h.storage.get_lease(&lease.lease_id).await.unwrap().unwrap();
    assert_ne!(
        restored.due_at, 0,
        "the row is restored from the sealed record"
    );
    // And a sealed record moved under another id does not decrypt.
    let other = h
        .manager
        .register("database/", "creds/app", spec(300), None)
        .await
        .unwrap();
    let mut moved = h.storage.get_lease(&other.lease_id).await.unwrap().unwrap();
    moved.value = restored.value.clone();
    h.storage.put_lease(&moved).await.unwrap();
    assert!(matches!(
        h.manager.lookup(&other.lease_id).await,
        Err(LeaseError::Storage(_))
    ));
}

#[tokio::test]
async fn only_the_near_future_is_held_in_memory() {
    let h = harness(0).await;
    for index in 0..500u64 {
        let ttl = if index < 50 { 60 } else { 86_400 };
        h.manager
            .register("database/", "creds/app", spec(ttl), None)
            .await
            .unwrap();
    }
    // A fresh manager over the same storage, as after an unseal.
    let fresh = h.fresh_manager(h.target.clone());
    fresh.tick().await;
    assert_eq!(
        fresh.queued(),
        50,
        "only leases due within the horizon are queued"
    );
}

#[tokio::test]
async fn intents_left_by_a_previous_process_are_revoked_at_start() {
    let h = harness(0).await;
    let orphan = h
        .manager
        .begin_intent(
            "database/",
            "creds/app",
            "creds",
            serde_json::json!({"username": "x"}),
        )
        .await
        .unwrap();
    let active = h
        .manager
        .register("database/", "creds/app", spec(300), None)
        .await
        .unwrap();
    h.advance(5);
    // "Restart": a new manager starts now; an intent begun after its start is in flight.
    let started = h.clock.now();
    let fresh = h.fresh_manager(h.target.clone());
    let in_flight = fresh
        .begin_intent(
            "database/",
            "creds/app",
            "creds",
            serde_json::json!({"username": "y"}),
        )
        .await
        .unwrap();
    fresh
        .reconcile_intents(started - Duration::from_millis(1))
        .await;
    assert_eq!(
        h.target.revoked(),
        vec![orphan],
        "only the dead process's intent is revoked"
    );
    assert!(fresh.lookup(&active.lease_id).await.is_ok());
    assert!(h.storage.get_lease(&in_flight).await.unwrap().is_some());
}

#[tokio::test]
async fn prefixes_are_paths_not_strings() {
    let h = harness(0).await;
    let app = h
        .manager
        .register("database/", "creds/app", spec(300), None)
        .await
        .unwrap();
    let app2 = h
        .manager
        .register("database/", "creds/app2", spec(300), None)
        .await
        .unwrap();
    assert_eq!(
        h.manager.revoke_prefix("database/creds/app").await.unwrap(),
        1
    );
    assert_eq!(h.target.revoked(), vec![app.lease_id]);
    assert!(h.manager.lookup(&app2.lease_id).await.is_ok());
    assert_eq!(
        h.manager.revoke_force("database/creds/ap").await.unwrap(),
        0
    );
    assert!(matches!(
        h.manager.revoke_force("/").await,
        Err(LeaseError::Invalid(_))
    ));
}

/// A lease index that counts reads of single leases, over memory storage.
#[derive(Debug)]
struct CountingIndex {
    inner: Arc<MemoryBackend>,
    reads: std::sync::atomic::AtomicUsize,
}

impl CountingIndex {
    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl LeaseIndex for CountingIndex {
    async fn put_lease(&self, row: &LeaseRow) -> Result<(), StorageError> {
        self.inner.put_lease(row).await
    }
    async fn put_leases(&self, rows: &[LeaseRow]) -> Result<(), StorageError> {
        self.inner.put_leases(rows).await
    }
    async fn get_lease(&self, id: &str) -> Result<Option<LeaseRow>, StorageError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get_lease(id).await
    }
    async fn delete_lease(&self, id: &str) -> Result<bool, StorageError> {
        self.inner.delete_lease(id).await
    }
    async fn leases_due_before(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRow>, StorageError> {
        self.inner.leases_due_before(before, limit).await
    }
    async fn lease_ids_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.lease_ids_with_prefix(prefix, after, limit).await
    }
    async fn list_leases(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list_leases(prefix).await
    }
    async fn lease_ids_by_owner(&self, owner: &str) -> Result<Vec<String>, StorageError> {
        self.inner.lease_ids_by_owner(owner).await
    }
    async fn lease_ids_in_state(
        &self,
        state: LeaseState,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.lease_ids_in_state(state, after, limit).await
    }
    async fn count_leases(
        &self,
        prefix: &str,
        state: Option<LeaseState>,
    ) -> Result<u64, StorageError> {
        self.inner.count_leases(prefix, state).await
    }
    async fn lease_state_counts(&self) -> Result<(u64, u64, u64), StorageError> {
        self.inner.lease_state_counts().await
    }
}

async fn counting_manager(
    cache: lessor_barrier::CacheLimits,
) -> (Arc<ExpirationManager>, Arc<CountingIndex>, Arc<ManualClock>) {
    let h = harness(0).await;
    let index = Arc::new(CountingIndex {
        inner: h.storage.clone(),
        reads: Default::default(),
    });
    let manager = ExpirationManager::new(
        index.clone(),
        h.manager.barrier.clone(),
        h.clock.clone(),
        h.target.clone(),
        RetryPolicy::default(),
        cache,
    );
    (manager, index, h.clock)
}

#[tokio::test]
async fn hot_leases_renew_and_revoke_without_reading_storage() {
    let (manager, index, _clock) = counting_manager(LEASE_CACHE).await;
    let lease = manager
        .register("database/", "creds/app", spec(60), None)
        .await
        .unwrap();
    for _ in 0..3 {
        manager
            .renew(&lease.lease_id, Some(Duration::from_secs(120)))
            .await
            .unwrap();
    }
    manager.revoke(&lease.lease_id).await.unwrap();
    assert_eq!(index.reads(), 0, "every read was served by the cache");
    // Gone from the cache with the row: renewing it now is refused, from storage.
    assert!(matches!(
        manager.renew(&lease.lease_id, None).await,
        Err(LeaseError::Invalid(_))
    ));
    assert_eq!(index.reads(), 1);

    // The same with the cache off: every operation reads its lease.
    let (manager, index, _clock) = counting_manager(lessor_barrier::CacheLimits::DISABLED).await;
    let lease = manager
        .register("database/", "creds/app", spec(60), None)
        .await
        .unwrap();
    manager.renew(&lease.lease_id, None).await.unwrap();
    manager.revoke(&lease.lease_id).await.unwrap();
    assert_eq!(index.reads(), 2);
}

#[tokio::test]
async fn a_renewal_through_the_cache_is_what_storage_holds() {
    let (manager, index, clock) = counting_manager(LEASE_CACHE).await;
    let lease = manager
        .register("database/", "creds/app", spec(60), None)
        .await
        .unwrap();
    manager
        .renew(&lease.lease_id, Some(Duration::from_secs(200)))
        .await
        .unwrap();
    // lookup reads storage: it sees the renewal the cache served.
    let stored = manager.lookup(&lease.lease_id).await.unwrap();
    assert_eq!(stored.expire_time, clock.now() + Duration::from_secs(200));
    assert_eq!(index.reads(), 1);
}

/// Revokes a token's leases from inside the token lease's own revocation, as the broker's
/// token store does (through its hooks).
#[derive(Debug, Default)]
struct TokenTarget {
    manager: std::sync::OnceLock<std::sync::Weak<ExpirationManager>>,
    revoked: Mutex<Vec<String>>,
}

#[async_trait]
impl LeaseTarget for TokenTarget {
    async fn revoke(&self, record: &LeaseRecord) -> Result<(), EngineError> {
        if record.mount == TOKEN_MOUNT {
            let manager = self
                .manager
                .get()
                .and_then(std::sync::Weak::upgrade)
                .unwrap();
            let hash = record.payload["hash"].as_str().unwrap();
            manager.revoke_owner(hash).await.unwrap();
            manager.forget_token(hash).await.unwrap();
        }
        self.revoked.lock().unwrap().push(record.id.clone());
        Ok(())
    }

    async fn renew(
        &self,
        _record: &LeaseRecord,
        _increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError> {
        Err(EngineError::Internal("not renewable here".into()))
    }

    fn max_lease_ttl(&self, _mount: &str) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }
}

#[tokio::test]
async fn an_expiring_token_revokes_its_many_leases_without_deadlock() {
    let h = harness(0).await;
    let target = Arc::new(TokenTarget::default());
    let manager = h.fresh_manager(target.clone());
    target.manager.set(Arc::downgrade(&manager)).unwrap();
    let expiry = h.clock.now() + Duration::from_secs(30);
    manager.track_token("tokenhash", expiry).await.unwrap();
    // Enough leases that, with a fixed array of lock stripes, one would share the token
    // lease's stripe and its revocation would wait on the lock its caller holds.
    for _ in 0..300 {
        manager
            .register(
                "database/",
                "creds/app",
                spec(300),
                Some(("tokenhash".into(), Some(expiry + Duration::from_secs(60)))),
            )
            .await
            .unwrap();
    }
    h.advance(31);
    manager.tick().await;
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        while !manager.in_flight.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "the token lease's revocation never finished"
    );
    assert_eq!(target.revoked.lock().unwrap().len(), 301);
    assert_eq!(manager.count("", None).await.unwrap(), 0);
}

#[tokio::test]
async fn reconciling_walks_every_page_of_pending_intents() {
    let h = harness(0).await;
    let mut orphans = Vec::new();
    for index in 0..1_201 {
        orphans.push(
            h.manager
                .begin_intent(
                    "database/",
                    "creds/app",
                    "creds",
                    serde_json::json!({ "username": format!("v-{index}") }),
                )
                .await
                .unwrap(),
        );
    }
    h.advance(5);
    let fresh = h.fresh_manager(h.target.clone());
    fresh.reconcile_intents(h.clock.now()).await;
    let mut revoked = h.target.revoked();
    revoked.sort();
    orphans.sort();
    assert_eq!(revoked, orphans, "every intent, across three pages, once");
    assert_eq!(
        h.storage
            .count_leases("", Some(LeaseState::Pending))
            .await
            .unwrap(),
        0
    );
}
