//! The expiry loop of the [`ExpirationManager`]: refilling the timer queue from the lease
//! index, revoking what is due, and reconciling intents a previous process left behind.
//! Each expiry it completes is counted with its lag behind the due time (`metrics::lease`;
//! revocation attempts themselves are counted by the metered target, whatever their cause).

use std::sync::Arc;
use std::time::Duration;

use lessor_storage::LeaseState;
use time::OffsetDateTime;

use super::ExpirationManager;
use super::manager::{LeaseError, storage};
use super::record::unix_ms;

/// Pending leases read per page while reconciling a previous process's intents.
const RECONCILE_PAGE: usize = 500;

impl ExpirationManager {
    /// Revokes the intents a previous broker process left pending. Their requests died with
    /// that process (a crash, a kill, a restart mid-request) and will never finish, so there
    /// is no reason to wait for their intent TTL. Intents begun by this process since `started`
    /// are left alone: their requests are still running. Walks the pending leases a page at a
    /// time through the state index, so memory stays flat however many leases are due soon.
    pub(super) async fn reconcile_intents(&self, started: OffsetDateTime) {
        let mut reconciled = 0usize;
        let mut after: Option<String> = None;
        loop {
            let ids = match self
                .index
                .lease_ids_in_state(LeaseState::Pending, after.as_deref(), RECONCILE_PAGE)
                .await
            {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::error!(%error, "reading pending lease intents failed; they expire normally");
                    break;
                }
            };
            let full = ids.len() >= RECONCILE_PAGE;
            for id in &ids {
                let _guard = self.lock(id).await;
                match self.load_stored(id).await {
                    Ok(Some(record))
                        if record.state == LeaseState::Pending && record.issue_time < started =>
                    {
                        if self.revoke_loaded(record).await.is_ok() {
                            reconciled += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(lease_id = %id, %error, "cannot load a pending intent")
                    }
                }
            }
            match ids.into_iter().last() {
                Some(last) if full => after = Some(last),
                _ => break,
            }
        }
        if reconciled > 0 {
            tracing::info!(
                reconciled,
                "revoked lease intents left by a previous broker process"
            );
        }
    }

    /// One pass of the expiry loop: refill when needed, start revocations of what is due,
    /// and return how long to sleep.
    pub async fn tick(self: &Arc<Self>) -> Duration {
        let now = unix_ms(self.now());
        let horizon_ms = i64::try_from(self.policy.horizon.as_millis()).unwrap_or(i64::MAX);
        let refill_due = {
            let last = *self.last_refill.lock().unwrap_or_else(|p| p.into_inner());
            let covered = self.queue().covered_until;
            last.is_none_or(|at| now >= at + horizon_ms / 2 || now >= covered)
        };
        if refill_due && let Err(error) = self.refill(now, horizon_ms).await {
            tracing::error!(%error, "refilling the lease queue failed");
            return Duration::from_secs(1);
        }
        let due = self.queue().pop_due(now);
        for id in due {
            let fresh = self
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone());
            if !fresh {
                continue;
            }
            let manager = Arc::clone(self);
            let permits = Arc::clone(&self.permits);
            tokio::spawn(async move {
                if let Ok(_permit) = permits.acquire_owned().await {
                    manager.expire(&id).await;
                }
                manager
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            });
        }
        let next_due = self.queue().next_due();
        let last = self
            .last_refill
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(now);
        let next_refill = (last + horizon_ms / 2).min(self.queue().covered_until);
        let wake_at = next_due.map_or(next_refill, |due| due.min(next_refill));
        let wait = u64::try_from(wake_at.saturating_sub(now)).unwrap_or(0);
        Duration::from_millis(wait.clamp(1, 60_000))
    }

    async fn refill(&self, now: i64, horizon_ms: i64) -> Result<(), LeaseError> {
        let until = now.saturating_add(horizon_ms);
        let rows = self
            .index
            .leases_due_before(until, self.policy.refill_batch)
            .await
            .map_err(storage)?;
        let full = rows.len() >= self.policy.refill_batch;
        let mut queue = self.queue();
        queue.covered_until = match (full, rows.last()) {
            // A full batch is complete only below its last due time.
            (true, Some(last)) => last.due_at,
            _ => until,
        };
        let covered = queue.covered_until;
        for row in rows.iter().filter(|row| row.due_at < covered || !full) {
            queue.fill(&row.id, row.due_at);
        }
        drop(queue);
        *self.last_refill.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        Ok(())
    }

    /// Revokes a due lease, unless a renewal moved it meanwhile.
    async fn expire(&self, id: &str) {
        let _guard = self.lock(id).await;
        let record = match self.load_stored(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(lease_id = %id, %error, "cannot load a due lease");
                return;
            }
        };
        let now = unix_ms(self.now());
        if record.due_at > now {
            self.schedule(id, record.due_at);
            return;
        }
        let due_at = record.due_at;
        match self.revoke_loaded(record).await {
            Ok(()) => {
                let lag_ms = unix_ms(self.now()).saturating_sub(due_at);
                crate::metrics::lease::expired(Duration::from_millis(
                    u64::try_from(lag_ms).unwrap_or(0),
                ));
            }
            Err(error) => tracing::debug!(lease_id = %id, %error, "expiry revocation failed"),
        }
    }
}
