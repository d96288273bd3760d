//! One async lock per lease id, held while a lease changes (renew vs expiry vs revoke).
//!
//! Exact ids, not stripes of a fixed lock array: revoking a token's lease runs inside that
//! lease's lock and revokes the token's own leases, each under its lock, so two ids sharing a
//! stripe would deadlock. An id's entry lives only while someone holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub(super) struct LeaseLocks {
    held: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Holds one lease id's lock; dropping it releases the lock and, when nobody else wants the
/// id, its entry.
#[derive(Debug)]
pub(super) struct LeaseGuard<'a> {
    locks: &'a LeaseLocks,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl LeaseLocks {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) async fn lock(&self, id: &str) -> LeaseGuard<'_> {
        let lock = Arc::clone(self.held().entry(id.to_owned()).or_default());
        let guard = lock.lock_owned().await;
        LeaseGuard {
            locks: self,
            id: id.to_owned(),
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.held().len()
    }
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held();
        // Released while the map is locked, so nobody can clone the entry in between.
        self.guard.take();
        if let Some(lock) = held.get(&self.id)
            && Arc::strong_count(lock) == 1
        {
            held.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_id_is_exclusive_and_others_are_not_blocked() {
        let locks = LeaseLocks::default();
        let first = locks.lock("database/creds/app/a").await;
        // Another id is free whatever its hash.
        let other = locks.lock("database/creds/app/b").await;
        let waiting = tokio::time::timeout(
            Duration::from_millis(50),
            locks.lock("database/creds/app/a"),
        )
        .await;
        assert!(waiting.is_err(), "a held id must not be granted twice");
        drop(first);
        let again = locks.lock("database/creds/app/a").await;
        drop(again);
        drop(other);
        assert_eq!(locks.entries(), 0, "released ids leave nothing behind");
    }

    #[tokio::test]
    async fn a_waiter_keeps_the_entry_until_it_is_done() {
        let locks = Arc::new(LeaseLocks::default());
        let first = locks.lock("x").await;
        let waiter = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let _guard = locks.lock("x").await;
                locks.entries()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert_eq!(
            waiter.await.ok(),
            Some(1),
            "the waiter holds the same entry"
        );
        assert_eq!(locks.entries(), 0);
    }
}
