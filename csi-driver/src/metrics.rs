//! The driver's Prometheus metrics (`lessor_csi_*_total` counters) and the small HTTP
//! endpoint that renders them at `/metrics`.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const PUBLISHES: &str = "lessor_csi_publishes_total";
pub const UNPUBLISHES: &str = "lessor_csi_unpublishes_total";
pub const LOGINS: &str = "lessor_csi_logins_total";
pub const RENEWALS: &str = "lessor_csi_renewals_total";
pub const REMINTS: &str = "lessor_csi_remints_total";
pub const REVOCATIONS: &str = "lessor_csi_revocations_total";
pub const FAILURES: &str = "lessor_csi_failures_total";
pub const PROVIDER_MOUNTS: &str = "lessor_csi_provider_mounts_total";

pub fn publish() {
    metrics::counter!(PUBLISHES).increment(1);
}

pub fn unpublish() {
    metrics::counter!(UNPUBLISHES).increment(1);
}

pub fn login() {
    metrics::counter!(LOGINS).increment(1);
}

/// `kind`: `lease` or `token`.
pub fn renewal(kind: &'static str) {
    metrics::counter!(RENEWALS, "kind" => kind).increment(1);
}

pub fn remint() {
    metrics::counter!(REMINTS).increment(1);
}

/// `kind`: `volume` (unpublish) or `token` (a replaced token).
pub fn revocation(kind: &'static str) {
    metrics::counter!(REVOCATIONS, "kind" => kind).increment(1);
}

pub fn failure(operation: &'static str) {
    metrics::counter!(FAILURES, "operation" => operation).increment(1);
}

pub fn provider_mount() {
    metrics::counter!(PROVIDER_MOUNTS).increment(1);
}

/// Installs the global recorder; the handle renders the text format.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    // The unlabelled counters show from the start, at zero, so dashboards need no absent()
    // guards; labelled ones appear with their first event.
    for name in [PUBLISHES, UNPUBLISHES, LOGINS, REMINTS, PROVIDER_MOUNTS] {
        metrics::counter!(name).absolute(0);
    }
    Ok(handle)
}

/// Serves `/metrics` until the process ends.
pub async fn serve(address: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving metrics at /metrics");
    axum::serve(listener, app).await?;
    Ok(())
}
