//! The expiration manager: registers, renews and revokes leases, and revokes each one when
//! it is due, retrying failures with backoff until the lease becomes irrevocable.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lessor_barrier::{CacheLimits, ReadCache, UnsealedBarrier};
use lessor_sdk::{Clock, EngineError, LeaseSpec, LeasedSecret, RenewOutcome};
use lessor_storage::{LeaseIndex, LeaseState};
use rand::Rng;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

use super::locks::{LeaseGuard, LeaseLocks};
use super::record::{LeaseRecord, unix_ms};
use super::timer::TimerQueue;

/// Where renewals and revocations go: the engine of the lease's mount. Implemented by the
/// core over its router, so this module knows nothing of mounts.
#[async_trait]
pub trait LeaseTarget: Send + Sync + std::fmt::Debug {
    async fn revoke(&self, record: &LeaseRecord) -> Result<(), EngineError>;
    async fn renew(
        &self,
        record: &LeaseRecord,
        increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError>;
    /// The effective max lease TTL of a mount; `None` when it is not mounted.
    fn max_lease_ttl(&self, mount: &str) -> Option<Duration>;
}

/// Timing of expiry, retries and intents.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Failed revocations before a lease becomes irrevocable.
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How often an irrevocable lease is tried again.
    pub irrevocable_retry: Duration,
    /// How long a pending intent may wait for its request to finish before it is revoked.
    /// Longer than any request may take (the listener's request timeout is shorter).
    pub intent_ttl: Duration,
    /// How far ahead the in-memory queue reaches.
    pub horizon: Duration,
    /// Rows read from the index per refill.
    pub refill_batch: usize,
    /// Revocations running at once.
    pub concurrency: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(120),
            irrevocable_retry: Duration::from_secs(24 * 3600),
            intent_ttl: Duration::from_secs(600),
            horizon: Duration::from_secs(300),
            refill_batch: 10_000,
            concurrency: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("lease storage failed: {0}")]
    Storage(String),
    /// Some revocations of a bulk request failed; they stay scheduled for retry.
    #[error("{0}")]
    Incomplete(String),
}

/// A lease-id prefix as Vault reads it: a path, so `database/creds/app` covers
/// `database/creds/app/…` and never `database/creds/app2/…`.
fn path_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

pub(super) fn storage(error: impl std::fmt::Display) -> LeaseError {
    LeaseError::Storage(error.to_string())
}

/// A newly registered lease, for the response envelope.
#[derive(Debug, Clone)]
pub struct Registered {
    pub lease_id: String,
    pub ttl: Duration,
    pub renewable: bool,
}

#[derive(Debug, Clone)]
pub struct RenewResult {
    pub lease_id: String,
    pub ttl: Duration,
    pub renewable: bool,
    pub warnings: Vec<String>,
    pub data: Option<lessor_sdk::Map>,
}

/// Revocations one bulk request (revoke-prefix, a token's leases) runs at once, so a large
/// prefix does not open a connection per lease against the target system.
const REVOKE_PARALLELISM: usize = 16;
/// The lease-record cache of a broker whose read cache is on: room for the leases a busy
/// broker renews, revokes and looks up (a sealed record is a few hundred bytes), in at most a
/// few megabytes whatever the number of outstanding leases.
pub const LEASE_CACHE: CacheLimits = CacheLimits {
    max_entries: 16_384,
    max_bytes: 8 * 1024 * 1024,
};
/// How long after the start the intents of a previous process are reconciled.
pub const RECONCILE_DELAY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct ExpirationManager {
    pub(super) index: Arc<dyn LeaseIndex>,
    pub(super) barrier: Arc<UnsealedBarrier>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) target: Arc<dyn LeaseTarget>,
    pub(super) policy: RetryPolicy,
    pub(super) queue: Mutex<TimerQueue>,
    /// When the queue was last refilled from the index (unix ms).
    pub(super) last_refill: Mutex<Option<i64>>,
    pub(super) wake: Notify,
    pub(super) in_flight: Mutex<HashSet<String>>,
    /// Intents this process began and has neither registered nor revoked, with their mount
    /// and issue time, so registering one needs no storage read. An intent missing here
    /// (revoked meanwhile, or begun before a restart) is looked up in the index instead.
    pub(super) pending: Mutex<HashMap<String, (String, OffsetDateTime)>>,
    pub(super) permits: Arc<Semaphore>,
    /// Serialises changes to one lease (renew vs expiry vs revoke) without a global lock.
    /// Every write of a lease row happens under its lock (or on an id nobody else knows yet),
    /// which is what lets `rows` be written through.
    pub(super) locks: LeaseLocks,
    /// Sealed lease records by id, as last written or read: a renewal or revocation of a hot
    /// lease reads no storage. Holds ciphertext only; this manager is the index's only writer
    /// while it runs, and a node that takes over starts with a new manager.
    pub(super) rows: ReadCache,
    pub(super) stopped: AtomicBool,
}

impl ExpirationManager {
    pub fn new(
        index: Arc<dyn LeaseIndex>,
        barrier: Arc<UnsealedBarrier>,
        clock: Arc<dyn Clock>,
        target: Arc<dyn LeaseTarget>,
        policy: RetryPolicy,
        cache: CacheLimits,
    ) -> Arc<Self> {
        Arc::new(Self {
            rows: ReadCache::new(cache),
            index,
            barrier,
            clock,
            target: crate::metrics::lease::metered(target, policy.max_attempts),
            permits: Arc::new(Semaphore::new(policy.concurrency.max(1))),
            policy,
            queue: Mutex::new(TimerQueue::default()),
            last_refill: Mutex::new(None),
            wake: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
            pending: Mutex::new(HashMap::new()),
            locks: LeaseLocks::default(),
            stopped: AtomicBool::new(false),
        })
    }

    /// Starts the expiry loop. It reads nothing at start beyond the next horizon.
    ///
    /// Reconciling a previous process's intents runs beside it, [`RECONCILE_DELAY`] later:
    /// it walks the index over the intent TTL, which right after a burst of issues is full of
    /// dead index entries (every lease is written twice, as intent and as active lease), and
    /// serving the first requests after an unseal matters more than revoking an orphan a
    /// second sooner (its intent would otherwise wait out its TTL).
    pub fn start(self: &Arc<Self>) {
        let started = self.now();
        let reconciler = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(RECONCILE_DELAY).await;
            if !reconciler.stopped.load(Ordering::SeqCst) {
                reconciler.reconcile_intents(started).await;
            }
        });
        let manager = Arc::clone(self);
        tokio::spawn(async move {
            while !manager.stopped.load(Ordering::SeqCst) {
                let wait = manager.tick().await;
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = manager.wake.notified() => {}
                }
            }
            tracing::debug!("expiration manager stopped");
        });
    }

    /// Stops the expiry loop (on seal). Revocations already running finish or fail.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub(super) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Takes the lock of one lease id. Every write of a lease row happens under it (or on
    /// an id nobody else knows yet).
    pub(super) async fn lock(&self, id: &str) -> LeaseGuard<'_> {
        self.locks.lock(id).await
    }

    pub(super) fn queue(&self) -> std::sync::MutexGuard<'_, TimerQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn schedule(&self, id: &str, due: i64) {
        self.queue().schedule(id, due);
        self.wake.notify_one();
    }

    // ---- registration ------------------------------------------------------------------

    /// Persists a pending lease before an engine creates a credential.
    pub async fn begin_intent(
        &self,
        mount: &str,
        request_path: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<String, LeaseError> {
        let now = self.now();
        let expire = now + self.policy.intent_ttl;
        let record = LeaseRecord::new(
            Self::lease_id(mount, request_path),
            mount,
            kind,
            payload,
            LeaseState::Pending,
            now,
            expire,
        );
        self.store(&record).await?;
        self.schedule(&record.id, record.due_at);
        self.pending_intents()
            .insert(record.id.clone(), (mount.to_string(), now));
        Ok(record.id)
    }

    fn pending_intents(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, OffsetDateTime)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns an engine's lease spec into an active lease owned by `owner` (a token hash and
    /// that token's own expiry, which no lease outlives).
    pub async fn register(
        &self,
        mount: &str,
        request_path: &str,
        spec: LeaseSpec,
        owner: Option<(String, Option<OffsetDateTime>)>,
    ) -> Result<Registered, LeaseError> {
        let now = self.now();
        let mount_max = self
            .target
            .max_lease_ttl(mount)
            .ok_or_else(|| LeaseError::Invalid(format!("no mount at {mount}")))?;
        let max_total = spec.max_ttl.map_or(mount_max, |max| max.min(mount_max));
        let (owner_hash, owner_expiry) = match owner {
            Some((hash, expiry)) => (Some(hash), expiry),
            None => (None, None),
        };

        let (id, issue_time, _guard) = match &spec.intent {
            Some(intent) => {
                let guard = self.lock(intent).await;
                // Under the lease's lock, so an expiry or revocation of the intent has either
                // finished (and forgotten it) or not started.
                let remembered = self.pending_intents().remove(intent);
                let found = match remembered {
                    Some(found) => Some(found),
                    None => self
                        .load(intent)
                        .await?
                        .filter(|record| record.state == LeaseState::Pending)
                        .map(|record| (record.mount, record.issue_time)),
                };
                match found {
                    Some((intent_mount, issue_time)) if intent_mount == mount => {
                        (intent.clone(), issue_time, Some(guard))
                    }
                    _ => {
                        drop(guard);
                        // The intent already expired and was revoked, or never existed: the
                        // credential must not survive untracked.
                        let orphan = self.ephemeral_record(mount, &spec, now);
                        if let Err(error) = self.target.revoke(&orphan).await {
                            tracing::error!(mount, %error, "revoking a credential whose intent was lost failed");
                        }
                        return Err(LeaseError::Invalid(
                            "the lease intent expired before the credential was registered".into(),
                        ));
                    }
                }
            }
            None => (Self::lease_id(mount, request_path), now, None),
        };

        let max_expire = issue_time + max_total;
        let mut expire = (now + spec.ttl).min(max_expire);
        if let Some(token_expiry) = owner_expiry {
            expire = expire.min(token_expiry);
        }
        let record = LeaseRecord {
            max_expire: Some(max_expire),
            renewable: spec.renewable,
            owner: owner_hash,
            ..LeaseRecord::new(
                id.clone(),
                mount,
                &spec.kind,
                spec.payload,
                LeaseState::Active,
                issue_time,
                expire,
            )
        };
        self.store(&record).await?;
        self.schedule(&id, record.due_at);
        let ttl = (expire - now).try_into().unwrap_or(Duration::ZERO);
        Ok(Registered {
            lease_id: id,
            ttl,
            renewable: record.renewable,
        })
    }

    /// Tracks a token with a TTL as a lease, so it is revoked (with its children and leases)
    /// when it expires even if nobody presents it again. Called on create and on renewal.
    pub async fn track_token(&self, hash: &str, expire: OffsetDateTime) -> Result<(), LeaseError> {
        let id = token_lease_id(hash);
        let _guard = self.lock(&id).await;
        let now = self.now();
        // Not renewable here: tokens renew through auth/token/renew*, not sys/leases/renew.
        let record = LeaseRecord::new(
            id.clone(),
            TOKEN_MOUNT,
            "token",
            serde_json::json!({ "hash": hash }),
            LeaseState::Active,
            now,
            expire,
        );
        self.store(&record).await?;
        self.schedule(&id, record.due_at);
        Ok(())
    }

    /// Drops a token's lease once the token is gone (revoked by a client, or by this very
    /// lease's expiry, which holds the lease's lock: so this one takes no lock).
    pub async fn forget_token(&self, hash: &str) -> Result<(), LeaseError> {
        let id = token_lease_id(hash);
        self.delete(&id).await?;
        self.queue().remove(&id);
        Ok(())
    }

    fn ephemeral_record(&self, mount: &str, spec: &LeaseSpec, now: OffsetDateTime) -> LeaseRecord {
        LeaseRecord::new(
            spec.intent.clone().unwrap_or_default(),
            mount,
            &spec.kind,
            spec.payload.clone(),
            LeaseState::Pending,
            now,
            now,
        )
    }

    // ---- client operations -------------------------------------------------------------

    /// What storage holds for a lease (an operator's question, so not the cache's answer).
    pub async fn lookup(&self, id: &str) -> Result<LeaseRecord, LeaseError> {
        match self.load_stored(id).await? {
            Some(record) if record.state != LeaseState::Pending => Ok(record),
            _ => Err(LeaseError::NotFound),
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, LeaseError> {
        self.index.list_leases(prefix).await.map_err(storage)
    }

    pub async fn count(&self, prefix: &str, state: Option<LeaseState>) -> Result<u64, LeaseError> {
        self.index
            .count_leases(prefix, state)
            .await
            .map_err(storage)
    }

    /// Ids of irrevocable leases under `prefix` (for `sys/leases?type=irrevocable`).
    pub async fn irrevocable(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<LeaseRecord>, LeaseError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let ids = self
                .index
                .lease_ids_with_prefix(prefix, after.as_deref(), 1000)
                .await
                .map_err(storage)?;
            let Some(last) = ids.last().cloned() else {
                return Ok(found);
            };
            for id in ids {
                if let Some(record) = self.load(&id).await?
                    && record.state == LeaseState::Irrevocable
                {
                    found.push(record);
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
            after = Some(last);
        }
    }

    /// Extends a lease by `increment` (or the engine's default), capped by the lease's max
    /// TTL and the mount's current max lease TTL. Says so in a warning when it caps.
    pub async fn renew(
        &self,
        id: &str,
        increment: Option<Duration>,
    ) -> Result<RenewResult, LeaseError> {
        let _guard = self.lock(id).await;
        let mut record = match self.load(id).await? {
            Some(record) if record.state == LeaseState::Active => record,
            Some(record) if record.state == LeaseState::Irrevocable => {
                return Err(LeaseError::Invalid(
                    "lease is irrevocable and cannot be renewed".into(),
                ));
            }
            _ => {
                return Err(LeaseError::Invalid(
                    "lease not found or lease is not renewable".into(),
                ));
            }
        };
        let now = self.now();
        if record.expire_time <= now {
            return Err(LeaseError::Invalid("lease expired".into()));
        }
        if !record.renewable {
            return Err(LeaseError::Invalid("lease is not renewable".into()));
        }
        let mount_max = self
            .target
            .max_lease_ttl(&record.mount)
            .ok_or_else(|| LeaseError::Invalid(format!("no mount at {}", record.mount)))?;
        let mut cap = record.issue_time + mount_max;
        if let Some(max_expire) = record.max_expire {
            cap = cap.min(max_expire);
        }
        let room: Duration = (cap - now).try_into().unwrap_or(Duration::ZERO);
        if room.is_zero() {
            return Err(LeaseError::Invalid("past the max TTL, cannot renew".into()));
        }
        let asked = increment;
        let increment = increment.map(|inc| inc.min(room));
        let outcome = self.target.renew(&record, increment).await?;
        let mut warnings = outcome.warnings;
        let mut ttl = outcome.ttl;
        if ttl > room {
            ttl = room;
        }
        let engine_capped = warnings.iter().any(|warning| warning.contains("capped"));
        if !engine_capped && (asked.is_some_and(|asked| asked > room) || outcome.ttl > room) {
            let requested = asked.unwrap_or(outcome.ttl).as_secs();
            warnings.push(format!(
                "TTL of {requested}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
                room.as_secs()
            ));
        }
        record.expire_time = now + ttl;
        record.last_renewal = Some(now);
        record.due_at = unix_ms(record.expire_time);
        if let Some(payload) = outcome.payload {
            record.payload = payload;
        }
        self.store(&record).await?;
        self.schedule(id, record.due_at);
        Ok(RenewResult {
            lease_id: id.to_string(),
            ttl,
            renewable: record.renewable,
            warnings,
            data: None,
        })
    }

    /// Revokes intents a finished request left pending (it failed, or began more than it
    /// registered), in the background: the client's answer does not wait for the target.
    /// A revocation that fails stays scheduled like any other.
    pub fn abandon_intents(self: &Arc<Self>, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let manager = Arc::clone(self);
        tokio::spawn(async move {
            for id in ids {
                let _guard = manager.lock(&id).await;
                match manager.load(&id).await {
                    Ok(Some(record)) if record.state == LeaseState::Pending => {
                        if let Err(error) = manager.revoke_loaded(record).await {
                            tracing::warn!(lease_id = %id, %error, "revoking an abandoned intent failed; will retry");
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(lease_id = %id, %error, "cannot load an abandoned intent")
                    }
                }
            }
        });
    }

    /// Revokes one lease now (Vault's `sync=true`): the engine first, then the index.
    pub async fn revoke(&self, id: &str) -> Result<(), LeaseError> {
        let _guard = self.lock(id).await;
        let Some(record) = self.load(id).await? else {
            // Revoking a lease that is gone is success, as in Vault.
            return Ok(());
        };
        self.revoke_loaded(record).await
    }

    /// Callers hold the lease's lock.
    pub(super) async fn revoke_loaded(&self, record: LeaseRecord) -> Result<(), LeaseError> {
        self.pending_intents().remove(&record.id);
        match self.target.revoke(&record).await {
            Ok(()) => {
                self.delete(&record.id).await?;
                self.queue().remove(&record.id);
                tracing::info!(lease_id = %record.id, "lease revoked");
                Ok(())
            }
            Err(error) => {
                let message = error.to_string();
                self.record_failure(record, &message).await?;
                Err(LeaseError::Engine(error))
            }
        }
    }

    /// Counts a failed revocation and schedules the next attempt (or the daily retry of an
    /// irrevocable lease).
    async fn record_failure(
        &self,
        mut record: LeaseRecord,
        message: &str,
    ) -> Result<(), LeaseError> {
        let now = self.now();
        record.attempts = record.attempts.saturating_add(1);
        record.last_error = Some(message.to_string());
        let delay = if record.state == LeaseState::Irrevocable {
            self.policy.irrevocable_retry
        } else if record.attempts >= self.policy.max_attempts {
            record.state = LeaseState::Irrevocable;
            tracing::error!(lease_id = %record.id, attempts = record.attempts, error = message, "lease is now irrevocable");
            self.policy.irrevocable_retry
        } else {
            let exponent = record.attempts.saturating_sub(1).min(16);
            let backoff = self
                .policy
                .base_backoff
                .saturating_mul(1 << exponent)
                .min(self.policy.max_backoff);
            // Jitter spreads retries of leases that failed together (one database outage).
            let jitter = rand::rng().random_range(0.0..0.25);
            tracing::warn!(lease_id = %record.id, attempt = record.attempts, error = message, "revocation failed; will retry");
            backoff.mul_f64(1.0 + jitter)
        };
        record.due_at = unix_ms(now + delay);
        let (id, due) = (record.id.clone(), record.due_at);
        self.store(&record).await?;
        self.schedule(&id, due);
        Ok(())
    }

    /// Revokes every lease under `prefix`, a page at a time. Leases whose revocation fails
    /// stay scheduled for retry; the error says how many.
    pub async fn revoke_prefix(&self, prefix: &str) -> Result<usize, LeaseError> {
        let prefix = &path_prefix(prefix);
        let mut revoked = 0;
        let mut failed = 0;
        let mut after: Option<String> = None;
        loop {
            let ids = self
                .index
                .lease_ids_with_prefix(prefix, after.as_deref(), 500)
                .await
                .map_err(storage)?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            for result in self.revoke_all(&ids).await {
                match result {
                    Ok(()) => revoked += 1,
                    Err(_) => failed += 1,
                }
            }
            after = Some(last);
        }
        if failed > 0 {
            return Err(LeaseError::Incomplete(format!(
                "{failed} lease(s) under {prefix:?} failed to revoke and will be retried ({revoked} revoked)"
            )));
        }
        Ok(revoked)
    }

    /// Revokes `ids`, [`REVOKE_PARALLELISM`] at a time.
    async fn revoke_all(&self, ids: &[String]) -> Vec<Result<(), LeaseError>> {
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(REVOKE_PARALLELISM) {
            results.extend(futures::future::join_all(chunk.iter().map(|id| self.revoke(id))).await);
        }
        results
    }

    /// Removes every lease under `prefix` from the index without asking the engine.
    pub async fn revoke_force(&self, prefix: &str) -> Result<usize, LeaseError> {
        let prefix = &path_prefix(prefix);
        if prefix.is_empty() {
            return Err(LeaseError::Invalid("revoke-force needs a prefix".into()));
        }
        let mut removed = 0;
        loop {
            let ids = self
                .index
                .lease_ids_with_prefix(prefix, None, 500)
                .await
                .map_err(storage)?;
            if ids.is_empty() {
                return Ok(removed);
            }
            for id in ids {
                let _guard = self.lock(&id).await;
                self.pending_intents().remove(&id);
                if self.delete(&id).await? {
                    removed += 1;
                }
                self.queue().remove(&id);
                tracing::warn!(lease_id = %id, "lease force-revoked without its engine");
            }
        }
    }

    /// Revokes every lease owned by a token (called before the token is deleted).
    pub async fn revoke_owner(&self, owner: &str) -> Result<usize, LeaseError> {
        let ids = self
            .index
            .lease_ids_by_owner(owner)
            .await
            .map_err(storage)?;
        let results = self.revoke_all(&ids).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed > 0 {
            return Err(LeaseError::Invalid(format!(
                "{failed} lease(s) of the token failed to revoke"
            )));
        }
        Ok(ids.len())
    }

    /// Re-reads the index's overdue leases into the queue (e.g. after storage was restored).
    pub async fn tidy(&self) -> Result<usize, LeaseError> {
        *self.last_refill.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.wake.notify_one();
        let now = unix_ms(self.now());
        let overdue = self
            .index
            .leases_due_before(now, self.policy.refill_batch)
            .await
            .map_err(storage)?;
        Ok(overdue.len())
    }

    /// How many leases the queue holds (for tests and metrics).
    pub fn queued(&self) -> usize {
        self.queue().len()
    }
}

/// Where token leases live: `auth/token/create/<token hash>`, as in Vault.
pub const TOKEN_MOUNT: &str = "auth/token/";

fn token_lease_id(hash: &str) -> String {
    format!("{TOKEN_MOUNT}create/{hash}")
}

/// The engine-facing view of a stored lease.
pub(crate) fn leased_secret(record: &LeaseRecord) -> LeasedSecret {
    LeasedSecret {
        lease_id: record.id.clone(),
        kind: record.kind.clone(),
        payload: record.payload.clone(),
        issue_time: record.issue_time,
        expire_time: record.expire_time,
    }
}
