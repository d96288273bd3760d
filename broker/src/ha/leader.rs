//! The leader row, cached for about a second: standbys consult it for every forwarded request
//! and `sys/leader`, and that must not become one database read per request. A second of
//! staleness costs nothing worse than one failed forward, after which the entry is dropped.

use std::time::{Duration, Instant};

use lessor_storage::{LeaderInfo, PostgresBackend, StorageError};

/// How long a read of the leader row is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(super) struct LeaderCache {
    /// Held only to copy in or out, never across an await.
    cached: std::sync::Mutex<Option<(Instant, Option<LeaderInfo>)>>,
    /// One reader refreshes at a time; the others wait and take its result.
    refresh: tokio::sync::Mutex<()>,
}

impl LeaderCache {
    fn fresh(&self) -> Option<Option<LeaderInfo>> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, leader)| leader.clone())
    }

    pub(super) async fn get(
        &self,
        backend: &PostgresBackend,
    ) -> Result<Option<LeaderInfo>, StorageError> {
        if let Some(leader) = self.fresh() {
            return Ok(leader);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(leader) = self.fresh() {
            return Ok(leader);
        }
        let leader = backend.current_leader().await?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), leader.clone()));
        Ok(leader)
    }

    pub(super) fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
