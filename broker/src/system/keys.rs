//! `sys/rotate` and `sys/key-status`: the barrier keyring.

use super::{SysRequest, object};
use crate::error::ApiError;
use crate::request::LogicalResponse;

fn render(status: &lessor_barrier::KeyStatus) -> Result<LogicalResponse, ApiError> {
    let install_time = status
        .install_time
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(ApiError::internal)?;
    object(serde_json::json!({
        "term": status.term,
        "install_time": install_time,
        "encryptions": serde_json::Value::Null,
    }))
}

pub(super) async fn rotate(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let now = sys.unsealed.clock().now();
    let status = sys
        .unsealed
        .barrier()
        .rotate(now)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(term = status.term, "barrier keyring rotated");
    Ok(LogicalResponse::no_content())
}

pub(super) fn status(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let status = sys
        .unsealed
        .barrier()
        .key_status()
        .map_err(ApiError::internal)?;
    render(&status)
}
