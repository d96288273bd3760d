//! The HTTP API in the Vault dialect. Architecture invariant: this is the only module that
//! knows HTTP, status codes and JSON envelopes; the core sees [`LogicalRequest`]s.

mod envelope;
mod error;
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
}

/// Transport limits and access options from the listener configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_request_size: usize,
    pub max_request_duration: Duration,
    /// `sys/metrics` answers without a token (listener `telemetry` block).
    pub unauthenticated_metrics_access: bool,
}

/// The complete API router. Every request, whatever answers it, is counted and timed.
pub fn router(core: Arc<Core>, limits: Limits) -> Router {
    crate::metrics::install();
    let state = AppState { core, limits };
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
        .layer(axum::middleware::from_fn(instrument::record))
        .with_state(state)
}

#[cfg(test)]
mod tests;
