//! Decoding an HTTP request into a [`LogicalRequest`] and dispatching it to the core.
//!
//! Methods map to operations as in Vault: GET → read (list with `?list=true`), LIST → list,
//! POST/PUT → update (the core turns it into create when the target is new), PATCH → patch,
//! DELETE → delete. Reads, lists and deletes take their parameters from the query string;
//! writes from a JSON object body.

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use http_body_util::BodyExt;
use lessor_sdk::{Map, Operation};
use zeroize::Zeroizing;

use super::AppState;
use super::envelope::render;
use super::error::error_response;
use crate::error::ApiError;
use crate::metrics::route::RouteCapture;
use crate::request::{ClientToken, LogicalRequest};

/// The client's token from `X-Vault-Token` or `Authorization: Bearer`.
pub(super) fn client_token(headers: &HeaderMap) -> Option<ClientToken> {
    let raw = headers
        .get("x-vault-token")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer ").map(str::to_string))
        })?;
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then(|| ClientToken(Zeroizing::new(trimmed.to_string())))
}

/// The client's address as the core records it: the peer's, or the one an authorized
/// forwarder names (`forward::client_address`).
pub(super) fn remote_addr(
    state: &AppState,
    headers: &HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Option<SocketAddr> {
    super::forward::client_address(
        headers,
        connect.map(|Extension(ConnectInfo(addr))| addr),
        &state.limits.x_forwarded_for_authorized_addrs,
    )
}

pub(super) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses a JSON object body; empty means `{}`. Anything else is a 400 naming the problem.
pub(super) fn json_object(body: &Bytes) -> Result<Map, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("request body must be a JSON object")),
        Err(error) => Err(ApiError::invalid(format!(
            "failed to parse JSON input: {error}"
        ))),
    }
}

pub(super) fn query_map(uri: &Uri) -> Result<Map, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(Map::new());
    };
    let mut map = Map::new();
    for (key, value) in url_pairs(query)? {
        map.insert(key, serde_json::Value::String(value));
    }
    Ok(map)
}

/// Splits and percent-decodes a query string.
fn url_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| ApiError::invalid("malformed percent-encoding in query"))?;
                out.push(hex);
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid("query is not UTF-8"))
}

fn operation(method: &Method, query: &Map) -> Result<Operation, ApiError> {
    let list_flag = query
        .get("list")
        .and_then(|value| value.as_str())
        .is_some_and(|value| value == "true" || value == "1");
    Ok(match method.as_str() {
        "GET" if list_flag => Operation::List,
        "GET" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        _ => return Err(ApiError::UnsupportedOperation),
    })
}

/// Every `/v1/…` path that is not a seal-lifecycle endpoint.
pub(super) async fn handle(
    State(state): State<AppState>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Body,
) -> Response {
    let id = request_id();
    // The route template the pipeline resolves, for the request metrics (see `instrument`).
    let route = RouteCapture::new();
    let result = async {
        let body = read_body(body, state.limits.max_request_size).await?;
        validate_path(&path)?;
        // Response wrapping is not implemented; answering in the clear to a client that asked
        // for a wrapped response would hand the secret to whoever sits in between.
        if headers.contains_key("x-vault-wrap-ttl") {
            return Err(ApiError::invalid("response wrapping is not supported"));
        }
        let mut query = query_map(&uri)?;
        let operation = operation(&method, &query)?;
        let data = if operation.is_write() && operation != Operation::Delete {
            json_object(&body)?
        } else {
            query.remove("list");
            query
        };
        let request = LogicalRequest {
            id: id.clone(),
            operation,
            path: path.trim_start_matches('/').to_string(),
            data,
            token: client_token(&headers),
            remote_addr: remote_addr(&state, &headers, connect),
        };
        tracing::debug!(request_id = %id, path = %request.path, operation = %operation, "request");
        // The core runs in its own task: if the client hangs up, axum drops this future, but
        // a credential being created must still be registered (or revoked) — never left
        // half-done because of a closed connection.
        let core = std::sync::Arc::clone(&state.core);
        let task = tokio::spawn(route.scope(async move { core.handle(request).await }));
        match tokio::time::timeout(state.limits.max_request_duration, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) => Err(ApiError::internal(format!("request task failed: {error}"))),
            // The task goes on: whatever it was creating still gets registered or revoked.
            Err(_) => Err(ApiError::Timeout),
        }
    }
    .await;
    let mut response = match result {
        Ok(response) => render(&id, &response),
        Err(error) => {
            tracing::debug!(request_id = %id, path = %path, status = %error.status(), "request failed");
            axum::response::IntoResponse::into_response(error)
        }
    };
    response.extensions_mut().insert(route.label());
    response
}

/// How much of an oversized body is read and discarded before answering 413. Answering
/// while the client is still sending makes the kernel reset the connection, and the client
/// never sees the status; draining a bounded amount lets ordinary clients read the 413.
const OVERSIZE_DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads the body up to `limit` bytes; past it, drains (boundedly) and refuses with 413.
pub(super) async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|error| ApiError::invalid(format!("failed to read request body: {error}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buffer.extend_from_slice(&data);
        } else {
            buffer = Vec::new();
            if seen > limit.saturating_add(OVERSIZE_DRAIN_LIMIT) {
                break;
            }
        }
    }
    if seen > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(Bytes::from(buffer))
}

/// Paths are plain segments: no empty segments in the middle, no `.`/`..`, no control
/// characters. Engines may apply stricter rules of their own.
fn validate_path(path: &str) -> Result<(), ApiError> {
    if path.len() > 4096 {
        return Err(ApiError::invalid("path is too long"));
    }
    if path.chars().any(char::is_control) {
        return Err(ApiError::invalid("path contains control characters"));
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(ApiError::invalid("path contains relative segments"));
    }
    Ok(())
}

pub(super) async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let pairs = url_pairs("a=1&b=x%20y&c=&list=true&d+e=f+g").unwrap();
        assert_eq!(pairs[1], ("b".into(), "x y".into()));
        assert_eq!(pairs[2], ("c".into(), "".into()));
        assert_eq!(pairs[4], ("d e".into(), "f g".into()));
        assert!(url_pairs("a=%zz").is_err());
        assert!(url_pairs("a=%ff").is_err());
    }

    #[test]
    fn bodies() {
        assert!(json_object(&Bytes::from_static(b"")).unwrap().is_empty());
        assert!(json_object(&Bytes::from_static(b" \n")).unwrap().is_empty());
        assert!(json_object(&Bytes::from_static(b"[1]")).is_err());
        assert!(json_object(&Bytes::from_static(b"{\"a\":")).is_err());
        assert_eq!(
            json_object(&Bytes::from_static(b"{\"a\":1}")).unwrap()["a"],
            1
        );
    }

    #[test]
    fn methods() {
        let list = query_map(&"/v1/x?list=true".parse().unwrap()).unwrap();
        assert_eq!(operation(&Method::GET, &list).unwrap(), Operation::List);
        assert_eq!(
            operation(&Method::GET, &Map::new()).unwrap(),
            Operation::Read
        );
        let list_method = Method::from_bytes(b"LIST").unwrap();
        assert_eq!(
            operation(&list_method, &Map::new()).unwrap(),
            Operation::List
        );
        assert!(operation(&Method::OPTIONS, &Map::new()).is_err());
    }

    #[test]
    fn tokens_from_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(client_token(&headers).unwrap().0.as_str(), "abc");
        headers.insert("x-vault-token", "xyz".parse().unwrap());
        assert_eq!(client_token(&headers).unwrap().0.as_str(), "xyz");
        assert!(client_token(&HeaderMap::new()).is_none());
    }
}
