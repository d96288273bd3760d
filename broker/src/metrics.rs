//! Prometheus metrics: the process-wide recorder, the name and description of every metric
//! Lessor exports, and the text `sys/metrics` serves.
//!
//! Code everywhere records through the `metrics` facade (`counter!`, `gauge!`, `histogram!`);
//! this module installs a `metrics-exporter-prometheus` recorder behind it once per process and
//! keeps its [`PrometheusHandle`]. The exporter's own HTTP listener is never started: metrics
//! leave only through `sys/metrics`, which is token-protected like every other path (unless the
//! listener allows unauthenticated scrapes) and answers on the API port.
//!
//! Labels stay bounded: requests are labelled by route *template* (`database/creds/:role`,
//! see [`route`]), never by the raw path that names roles, leases or tokens; leases by mount.
//! Gauges that need a storage query are computed when scraped (`system::metrics`), never per
//! request.

pub(crate) mod lease;
pub(crate) mod route;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "lessor_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "lessor_http_request_duration_seconds";
pub const SEALED: &str = "lessor_sealed";
pub const LEASES_OUTSTANDING: &str = "lessor_leases_outstanding";
pub const LEASE_EXPIRATIONS: &str = "lessor_lease_expirations_total";
pub const LEASE_REVOCATIONS: &str = "lessor_lease_revocations_total";
pub const LEASE_REVOCATION_FAILURES: &str = "lessor_lease_revocation_failures_total";
pub const LEASE_IRREVOCABLE_TRANSITIONS: &str = "lessor_lease_irrevocable_transitions_total";
pub const LEASES_IRREVOCABLE: &str = "lessor_leases_irrevocable";
pub const LEASE_REVOCATION_LAG: &str = "lessor_lease_revocation_lag_seconds";
pub const TOKENS: &str = "lessor_tokens";
/// Incremented by the audit subsystem whenever a device fails to record an entry.
pub const AUDIT_FAILURES: &str = "lessor_audit_failures_total";
/// Recorded by the PostgreSQL engine's pools (engines use the facade, not this crate).
pub const DATABASE_POOL_CONNECTIONS: &str = "lessor_database_pool_connections";

/// Request latencies: sub-millisecond cache hits up to the default 90 s request timeout.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    90.0,
];
/// Revocation lag: within a second when healthy; minutes to a day when revocations are
/// retried with backoff (the irrevocable retry is daily).
const LAG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];
/// How often histogram samples are folded into buckets. Without upkeep they pile up between
/// scrapes, without bound if nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (first call in the process only) and returns its handle. Must be
/// called inside a Tokio runtime the first time, which runs the upkeep task.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = match builder() {
            Ok(builder) => builder,
            Err(error) => {
                tracing::error!(%error, "histogram buckets rejected; exporting summaries");
                PrometheusBuilder::new()
            }
        }
        .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // Only possible when something else in the process installed a recorder first.
            tracing::error!("another metrics recorder is installed; sys/metrics will be empty");
        }
        describe();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let upkeep = handle.clone();
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(UPKEEP_INTERVAL).await;
                    upkeep.run_upkeep();
                }
            });
        }
        handle
    })
}

/// The Prometheus text exposition (format 0.0.4) of everything recorded so far.
pub fn render() -> String {
    install().render()
}

fn builder() -> Result<PrometheusBuilder, BuildError> {
    // A full match wins over a suffix match, so the lag keeps its own (longer) buckets.
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(LEASE_REVOCATION_LAG.into()), LAG_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), REQUEST_BUCKETS)
}

/// Help texts for every metric, and a zero for the unlabelled ones so a scrape shows them
/// (and `rate()` has a starting point) before the first event.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "API requests answered, by route template, method and status code"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an API request, by route template and method"
    );
    describe_gauge!(SEALED, "1 while the broker is sealed, 0 while unsealed");
    describe_gauge!(
        LEASES_OUTSTANDING,
        "Leases not yet revoked (pending, active or irrevocable), by secret mount"
    );
    describe_counter!(
        LEASE_EXPIRATIONS,
        "Leases revoked by the expiry loop because they were due"
    );
    describe_counter!(
        LEASE_REVOCATIONS,
        "Revocation attempts against an engine (expiry, API, token revocation), by mount and result"
    );
    describe_counter!(
        LEASE_REVOCATION_FAILURES,
        "Failed revocation attempts (each is retried with backoff)"
    );
    describe_counter!(
        LEASE_IRREVOCABLE_TRANSITIONS,
        "Leases that became irrevocable after exhausting their revocation attempts"
    );
    describe_gauge!(
        LEASES_IRREVOCABLE,
        "Leases whose revocation failed past the retry limit (sys/leases?type=irrevocable)"
    );
    describe_histogram!(
        LEASE_REVOCATION_LAG,
        Unit::Seconds,
        "Delay from a lease's due time to its revocation by the expiry loop"
    );
    describe_gauge!(
        TOKENS,
        "Tokens with a TTL (tracked as leases under auth/token/); non-expiring root tokens are not counted"
    );
    describe_counter!(
        AUDIT_FAILURES,
        "Audit entries an audit device failed to record"
    );
    describe_gauge!(
        DATABASE_POOL_CONNECTIONS,
        "Connections of a PostgreSQL engine pool to its target, by mount, config and state (idle, in_use)"
    );
    for name in [
        LEASE_EXPIRATIONS,
        LEASE_REVOCATION_FAILURES,
        LEASE_IRREVOCABLE_TRANSITIONS,
        AUDIT_FAILURES,
    ] {
        counter!(name).increment(0);
    }
    gauge!(LEASES_IRREVOCABLE).increment(0.0);
    gauge!(TOKENS).increment(0.0);
}

/// Seal state, set on every transition.
pub fn set_sealed(sealed: bool) {
    gauge!(SEALED).set(if sealed { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_descriptions_buckets_and_zeroed_counters() {
        install();
        set_sealed(true);
        metrics::histogram!(LEASE_REVOCATION_LAG).record(0.3);
        metrics::histogram!(HTTP_REQUEST_DURATION, "route" => "sys/test", "method" => "GET")
            .record(Duration::from_millis(3));
        let text = render();
        assert!(
            text.contains("# HELP lessor_sealed 1 while the broker is sealed"),
            "{text}"
        );
        assert!(text.contains("# TYPE lessor_lease_expirations_total counter"));
        assert!(text.contains("lessor_lease_expirations_total "), "{text}");
        // The value itself races with other tests that unseal cores in this process.
        assert!(text.contains("\nlessor_sealed "), "{text}");
        // True histograms with our buckets, not summaries.
        assert!(
            text.contains("lessor_lease_revocation_lag_seconds_bucket{le=\"86400\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "lessor_http_request_duration_seconds_bucket{route=\"sys/test\",method=\"GET\",le=\"0.005\"}"
            ),
            "{text}"
        );
        // Installing twice keeps the first recorder.
        assert!(std::ptr::eq(install(), install()));
    }
}
