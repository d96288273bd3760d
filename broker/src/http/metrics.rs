//! `GET /v1/sys/metrics?format=prometheus`: the Prometheus text exposition.
//!
//! Like Vault, the endpoint needs a token with `read` on `sys/metrics`, checked by the normal
//! pipeline (so a sealed broker answers 503), unless the listener's `telemetry` block sets
//! `unauthenticated_metrics_access`: then anyone who reaches the listener may scrape, sealed
//! or not, and a sealed broker reports `lessor_sealed 1` instead of an error. Only the
//! Prometheus format exists; Vault's JSON dump of go-metrics intervals is refused with 400
//! rather than imitated (see `system::metrics`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use lessor_sdk::Operation;

use super::AppState;
use super::logical::{client_token, query_map, remote_addr, request_id};
use crate::error::ApiError;
use crate::request::LogicalRequest;
use crate::system::metrics::{METRICS_PATH, check_format, refresh};

/// The text format's content type, as Prometheus client libraries send it.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) async fn metrics(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    if method != Method::GET {
        return Err(ApiError::UnsupportedOperation);
    }
    let query = query_map(&uri)?;
    if state.limits.unauthenticated_metrics_access {
        check_format(&query)?;
    } else {
        // The pipeline authenticates, authorizes `read` on sys/metrics and checks the format,
        // in that order, so a caller without a token learns nothing but 403.
        let request = LogicalRequest {
            id: request_id(),
            operation: Operation::Read,
            path: METRICS_PATH.into(),
            data: query,
            token: client_token(&headers),
            remote_addr: remote_addr(&state, &headers, connect),
        };
        state.core.handle(request).await?;
    }
    refresh(Arc::clone(&state.core)).await;
    let mut response = crate::metrics::render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}
