//! Lease metrics: every revocation attempt against an engine, by mount and result, and the
//! expiry loop's own events (expirations and their lag).
//!
//! Revocations are counted by wrapping the manager's [`LeaseTarget`] ([`metered`]): every
//! path that revokes — expiry, `sys/leases/revoke*`, a token's revocation, abandoned
//! intents — goes through the target exactly once per attempt, so nothing is counted twice
//! and no caller has to remember to count.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::{EngineError, RenewOutcome};
use metrics::{counter, histogram};

use super::{
    LEASE_EXPIRATIONS, LEASE_IRREVOCABLE_TRANSITIONS, LEASE_REVOCATION_FAILURES,
    LEASE_REVOCATION_LAG, LEASE_REVOCATIONS,
};
use crate::lease::{LeaseRecord, LeaseState, LeaseTarget};

/// Wraps `target` so every revocation attempt is counted. `max_attempts` is the manager's
/// retry limit, to tell which failure makes a lease irrevocable.
pub fn metered(target: Arc<dyn LeaseTarget>, max_attempts: u32) -> Arc<dyn LeaseTarget> {
    Arc::new(MeteredTarget {
        inner: target,
        max_attempts,
    })
}

#[derive(Debug)]
struct MeteredTarget {
    inner: Arc<dyn LeaseTarget>,
    max_attempts: u32,
}

#[async_trait]
impl LeaseTarget for MeteredTarget {
    async fn revoke(&self, record: &LeaseRecord) -> Result<(), EngineError> {
        let result = self.inner.revoke(record).await;
        revocation(record, result.is_ok(), self.max_attempts);
        result
    }

    async fn renew(
        &self,
        record: &LeaseRecord,
        increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError> {
        self.inner.renew(record, increment).await
    }

    fn max_lease_ttl(&self, mount: &str) -> Option<Duration> {
        self.inner.max_lease_ttl(mount)
    }
}

fn revocation(record: &LeaseRecord, succeeded: bool, max_attempts: u32) {
    let result = if succeeded { "success" } else { "failure" };
    counter!(LEASE_REVOCATIONS, "mount" => record.mount.clone(), "result" => result).increment(1);
    if succeeded {
        return;
    }
    counter!(LEASE_REVOCATION_FAILURES).increment(1);
    // The manager's rule (`record_failure`): this failure is attempt `attempts + 1`, and
    // reaching the limit turns an active or pending lease irrevocable.
    if record.state != LeaseState::Irrevocable && record.attempts.saturating_add(1) >= max_attempts
    {
        counter!(LEASE_IRREVOCABLE_TRANSITIONS).increment(1);
    }
}

/// The expiry loop revoked a due lease, `lag` after its due time.
pub fn expired(lag: Duration) {
    counter!(LEASE_EXPIRATIONS).increment(1);
    histogram!(LEASE_REVOCATION_LAG).record(lag);
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// Fails every revocation of a lease whose id ends in `fail`.
    #[derive(Debug)]
    struct Target;

    #[async_trait]
    impl LeaseTarget for Target {
        async fn revoke(&self, record: &LeaseRecord) -> Result<(), EngineError> {
            if record.id.ends_with("fail") {
                Err(EngineError::Upstream("unreachable".into()))
            } else {
                Ok(())
            }
        }

        async fn renew(
            &self,
            _record: &LeaseRecord,
            _increment: Option<Duration>,
        ) -> Result<RenewOutcome, EngineError> {
            Err(EngineError::UnsupportedOperation)
        }

        fn max_lease_ttl(&self, _mount: &str) -> Option<Duration> {
            None
        }
    }

    fn record(id: &str, state: LeaseState, attempts: u32) -> LeaseRecord {
        let at = datetime!(2026-01-01 00:00 UTC);
        let mut record = LeaseRecord::new(
            format!("metered-test/creds/{id}"),
            "metered-test/",
            "creds",
            serde_json::Value::Null,
            state,
            at,
            at,
        );
        record.attempts = attempts;
        record
    }

    fn value(text: &str, prefix: &str) -> f64 {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    }

    #[tokio::test]
    async fn every_attempt_is_counted_by_mount_and_result() {
        let handle = super::super::install();
        let target = metered(Arc::new(Target), 3);
        let transitions = |text: &str| value(text, "lessor_lease_irrevocable_transitions_total ");
        let before = transitions(&handle.render());
        target
            .revoke(&record("ok", LeaseState::Active, 0))
            .await
            .unwrap();
        // Attempts 1 and 2 fail and are retried; attempt 3 makes the lease irrevocable; a
        // failing retry of an irrevocable lease is no new transition.
        target
            .revoke(&record("a-fail", LeaseState::Active, 0))
            .await
            .unwrap_err();
        target
            .revoke(&record("b-fail", LeaseState::Active, 1))
            .await
            .unwrap_err();
        target
            .revoke(&record("c-fail", LeaseState::Active, 2))
            .await
            .unwrap_err();
        target
            .revoke(&record("d-fail", LeaseState::Irrevocable, 9))
            .await
            .unwrap_err();
        let text = handle.render();
        let series = |result: &str| {
            value(
                &text,
                &format!(
                    "lessor_lease_revocations_total{{mount=\"metered-test/\",result=\"{result}\"}} "
                ),
            )
        };
        assert_eq!(series("success"), 1.0, "{text}");
        assert_eq!(series("failure"), 4.0, "{text}");
        // Other tests in this process make leases irrevocable too: at least ours counted.
        assert!(transitions(&text) >= before + 1.0, "{text}");
    }
}
