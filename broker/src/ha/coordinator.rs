//! The coordinator: one task per HA process that moves the core between standby and active.
//!
//! While the core is a standby it tries to take leadership every [`ACQUIRE_INTERVAL`]; when an
//! attempt succeeds the core becomes active (reopened barrier, `Unsealed::load`). While the core
//! is active it checks the lock session every [`CHECK_INTERVAL`]; a failed check has already
//! fenced this node's writes, and the core steps down at once. Sealed, it waits to be woken.
//!
//! A node that just lost leadership waits [`RETAKE_AFTER_LOSS`] before trying again, so that a
//! healthy standby wins the race rather than the node whose database connection just failed.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::{Core, NodeMode};

/// How often a standby tries to take leadership (and so, roughly, the takeover time after the
/// active node dies: PostgreSQL frees the lock when the session ends).
pub const ACQUIRE_INTERVAL: Duration = Duration::from_secs(1);
/// How often the active node checks its lock session.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long a node that lost leadership leaves the lock to the other standbys.
pub const RETAKE_AFTER_LOSS: Duration = Duration::from_secs(5);

/// Runs for the life of the process. Does nothing on a broker without HA.
pub async fn coordinate(core: Arc<Core>) {
    let Some(ha) = core.ha().cloned() else {
        return;
    };
    let mut quiet_until: Option<Instant> = None;
    // Log an acquisition failure once per streak, not every second of an outage.
    let mut failing = false;
    loop {
        match core.mode() {
            // Only an unseal ends this, and it wakes the coordinator (a wake sent before this
            // wait is kept, not lost).
            NodeMode::Sealed => ha.wake.notified().await,
            NodeMode::Standby => {
                if let Some(until) = quiet_until.filter(|until| Instant::now() < *until) {
                    tokio::select! {
                        () = ha.wake.notified() => {}
                        () = tokio::time::sleep_until(until) => {}
                    }
                    continue;
                }
                match ha.try_acquire().await {
                    Ok(Some(epoch)) => {
                        failing = false;
                        if !core.take_over(epoch).await {
                            quiet_until = Some(Instant::now() + RETAKE_AFTER_LOSS);
                        }
                        continue;
                    }
                    Ok(None) => failing = false,
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "cannot try for HA leadership; retrying every second");
                    }
                    Err(_) => {}
                }
                tokio::select! {
                    () = ha.wake.notified() => {}
                    () = tokio::time::sleep(ACQUIRE_INTERVAL) => {}
                }
            }
            NodeMode::Active => {
                tokio::select! {
                    () = ha.wake.notified() => continue,
                    () = tokio::time::sleep(CHECK_INTERVAL) => {}
                }
                if core.mode() != NodeMode::Active {
                    continue;
                }
                if let Err(error) = ha.check().await {
                    tracing::warn!(%error, "HA leadership lost; stepping down");
                    core.step_down().await;
                    quiet_until = Some(Instant::now() + RETAKE_AFTER_LOSS);
                }
            }
        }
    }
}
