//! The HTTP API in the Vault dialect. Architecture invariant: this is the only module that
//! knows HTTP, status codes and JSON envelopes; the core sees [`LogicalRequest`]s.

mod envelope;
mod error;
mod lifecycle;
mod listener;
mod logical;

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

/// Transport limits from the listener configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_request_size: usize,
    pub max_request_duration: Duration,
}

/// The complete API router.
pub fn router(core: Arc<Core>, limits: Limits) -> Router {
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
        .route("/v1/{*path}", any(logical::handle))
        .fallback(logical::not_found)
        .with_state(state)
}

#[cfg(test)]
mod tests;
