//! The one place where broker errors become HTTP statuses and Vault's `{"errors": [...]}`
//! body (always `application/json`: hvac parses errors only then).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Sealed => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotInitialized => StatusCode::BAD_REQUEST,
            ApiError::AlreadyInitialized => StatusCode::BAD_REQUEST,
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PermissionDenied => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotActive | ApiError::NoActiveNode => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error body with a status, for errors raised by the transport itself (bad JSON, size).
pub fn error_response(status: StatusCode, messages: Vec<String>) -> Response {
    (status, Json(serde_json::json!({ "errors": messages }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let messages = match &self {
            ApiError::Internal(detail) => {
                // The detail is for operators (it never carries secrets); clients get less.
                tracing::error!(error = %detail, "internal error");
                vec!["internal error".to_string()]
            }
            ApiError::NotFound(message) if message.is_empty() => Vec::new(),
            other => vec![other.to_string()],
        };
        error_response(status, messages)
    }
}
