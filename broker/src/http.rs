//! The HTTP API in the Vault dialect. Architecture invariant: this is the only module that
//! knows HTTP, status codes and JSON envelopes; the core sees [`LogicalRequest`]s.

mod envelope;
mod error;
mod forward;
mod instrument;
mod lifecycle;
mod listener;
mod logical;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::any;

pub use error::error_response;
pub use listener::serve;

use crate::core::Core;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub limits: Limits,
    /// HA nodes only: how a standby reaches the active node.
    proxy: Option<forward::Proxy>,
}

/// Transport limits and access options from the listener configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_request_size: usize,
    pub max_request_duration: Duration,
    /// `sys/metrics` answers without a token (listener `telemetry` block).
    pub unauthenticated_metrics_access: bool,
    /// Peers whose `X-Forwarded-For` names the client (the other HA nodes, proxies).
    pub x_forwarded_for_authorized_addrs: Vec<ipnet::IpNet>,
}

/// The complete API router. Every request, whatever answers it, is counted and timed (into
/// the recorder `Core::new` installed); on an HA standby, requests it does not answer itself
/// are forwarded before any handler runs.
pub fn router(core: Arc<Core>, limits: Limits) -> Router {
    let proxy = match core.ha() {
        None => None,
        Some(_) => match forward::Proxy::new() {
            Ok(proxy) => Some(proxy),
            Err(error) => {
                tracing::error!(%error, "standby forwarding is unavailable; standbys answer 503");
                None
            }
        },
    };
    let state = AppState {
        core,
        limits,
        proxy,
    };
    Router::new()
        .route("/v1/sys/init", any(lifecycle::init))
        .route("/v1/sys/unseal", any(lifecycle::unseal))
        .route("/v1/sys/seal-status", any(lifecycle::seal_status))
        .route("/v1/sys/seal", any(lifecycle::seal))
        .route("/v1/sys/health", any(lifecycle::health))
        .route("/v1/sys/leader", any(lifecycle::leader))
        .route("/v1/sys/rekey/init", any(lifecycle::rekey_init))
        .route("/v1/sys/rekey/update", any(lifecycle::rekey_update))
        .route("/v1/sys/metrics", any(metrics::metrics))
        .route("/v1/{*path}", any(logical::handle))
        .fallback(logical::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::standby,
        ))
        .layer(axum::middleware::from_fn(instrument::record))
        .with_state(state)
}

#[cfg(test)]
mod tests;
