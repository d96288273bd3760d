//! `sys/metrics`: the authorization and format check of a scrape (through the normal
//! pipeline), and the gauges that need storage queries, computed at scrape time.
//!
//! The HTTP layer serves the text itself (`http::metrics`); this module decides what a scrape
//! may ask for and brings the storage-derived gauges up to date: leases outstanding per
//! secret mount, irrevocable leases, tokens. Those are indexed `count(*)` queries, run at most
//! once per [`MIN_REFRESH_INTERVAL`] and one at a time whoever scrapes, so neither a request
//! nor a flood of scrapes (unauthenticated ones included) puts load on storage beyond that.
//! While sealed nothing is queried and the gauges keep their last unsealed values (the seal
//! gauge says why).
//!
//! Only `format=prometheus` is served. Vault's default JSON is a dump of go-metrics'
//! ten-second aggregation intervals, which Lessor does not keep; imitating its shape with
//! different contents would mislead, so the other formats are a 400 naming the one that works.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use lessor_sdk::Map;
use lessor_storage::StorageError;
use metrics::gauge;

use super::SysRequest;
use crate::core::{Core, Unsealed};
use crate::error::ApiError;
use crate::lease::TOKEN_MOUNT;
use crate::metrics::{LEASES_IRREVOCABLE, LEASES_OUTSTANDING, TOKENS};
use crate::mount::MountedBackend;
use crate::request::LogicalResponse;

/// The route pattern under `sys/`, and the full path policies name.
pub(crate) const ROUTE: &str = "metrics";
pub(crate) const METRICS_PATH: &str = "sys/metrics";

const PROMETHEUS: &str = "prometheus";
/// Scrapes closer together than this reuse the previous counts.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// A scrape waits this long for the counts, then answers with the previous ones; the refresh
/// finishes in the background.
const REFRESH_WAIT: Duration = Duration::from_secs(5);

/// When the gauges were last refreshed, and which mounts they reported (a mount that is gone
/// is reported as 0 once rather than frozen at its last count).
#[derive(Debug, Default)]
struct Refresh {
    at: Option<Instant>,
    mounts: BTreeSet<String>,
}

static REFRESH: LazyLock<Arc<tokio::sync::Mutex<Refresh>>> = LazyLock::new(Default::default);

/// The sys route: reached only after the pipeline authenticated the caller and authorized
/// `read` on `sys/metrics`.
pub(super) fn read(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    check_format(&sys.request.data)?;
    Ok(LogicalResponse::no_content())
}

/// Refuses every format but Prometheus text.
pub(crate) fn check_format(query: &Map) -> Result<(), ApiError> {
    match query.get("format").and_then(|format| format.as_str()) {
        Some(PROMETHEUS) => Ok(()),
        _ => Err(ApiError::invalid(
            "unsupported metrics format: Lessor serves format=prometheus only",
        )),
    }
}

/// Brings the storage-derived gauges up to date, unless sealed, refreshed within
/// [`MIN_REFRESH_INTERVAL`], or another scrape is already refreshing.
pub(crate) async fn refresh(core: Arc<Core>) {
    let Ok(unsealed) = core.unsealed() else {
        return;
    };
    let Ok(mut state) = Arc::clone(&REFRESH).try_lock_owned() else {
        return;
    };
    if state
        .at
        .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL)
    {
        return;
    }
    let task = tokio::spawn(async move {
        match count(&core, &unsealed, &state.mounts).await {
            Ok(mounts) => state.mounts = mounts,
            Err(error) => tracing::warn!(%error, "refreshing the lease and token gauges failed"),
        }
        state.at = Some(Instant::now());
    });
    if tokio::time::timeout(REFRESH_WAIT, task).await.is_err() {
        tracing::warn!("lease and token gauges are slow to refresh; serving the previous values");
    }
}

/// Sets the gauges; returns the mounts reported.
async fn count(
    core: &Core,
    unsealed: &Unsealed,
    previous: &BTreeSet<String>,
) -> Result<BTreeSet<String>, StorageError> {
    let storage = core.storage();
    let mut mounts = BTreeSet::new();
    for mounted in unsealed.router().mounts() {
        if !matches!(mounted.backend, MountedBackend::Secret(_)) {
            continue;
        }
        let path = &mounted.entry.path;
        let outstanding = storage.count_leases(path, None).await?;
        gauge!(LEASES_OUTSTANDING, "mount" => path.clone()).set(outstanding as f64);
        mounts.insert(path.clone());
    }
    for gone in previous.difference(&mounts) {
        gauge!(LEASES_OUTSTANDING, "mount" => gone.clone()).set(0.0);
    }
    let (_pending, _active, irrevocable) = storage.lease_state_counts().await?;
    gauge!(LEASES_IRREVOCABLE).set(irrevocable as f64);
    let tokens = storage
        .count_leases(&format!("{TOKEN_MOUNT}create/"), None)
        .await?;
    gauge!(TOKENS).set(tokens as f64);
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prometheus_is_served() {
        let mut query = Map::new();
        assert!(check_format(&query).is_err());
        query.insert("format".into(), "json".into());
        assert!(check_format(&query).is_err());
        query.insert("format".into(), "prometheus".into());
        assert!(check_format(&query).is_ok());
    }
}
