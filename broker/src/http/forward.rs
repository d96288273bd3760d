//! HA standbys: which requests a standby answers itself, and the reverse proxy that sends the
//! rest to the active node (or the 307 that points the client there instead). Also where the
//! client's address is decided, since `X-Forwarded-For` is how a forwarded request carries it.
//!
//! A standby answers `sys/health`, `sys/leader`, `sys/seal-status`, `sys/init`, `sys/unseal`
//! and `sys/seal` (refused: it has no token store to check the caller against) itself, and
//! `sys/metrics` when the listener serves metrics without a token. Everything else under
//! `/v1/` goes to the `api_addr` in the leader row, unchanged but for the hop-by-hop headers:
//! same method, path, query, body and headers (the client's token included), with
//! `X-Forwarded-For` set to the client address the standby saw, and the answer relayed as is.
//! Nothing on this path reads storage but the (cached) leader row.
//!
//! `X-Forwarded-For` is believed only from the listener's `x_forwarded_for_authorized_addrs`
//! (Vault's setting): anyone can send the header, so only the operator can say whose it is.
//! The standby replaces the header rather than appending to it, so what the active node
//! records is what the standby itself decided, never a chain the client wrote.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::SharedString;

use super::AppState;
use super::logical::read_body;
use crate::core::NodeMode;
use crate::error::ApiError;
use crate::metrics::route::RouteLabel;

/// Set on forwarded requests. A node that is (no longer) active answers 503 to a request
/// carrying it instead of forwarding again, so a stale leader row cannot make two nodes bounce
/// a request between them. Anyone may set it; all it can do is turn a forward into a 503.
const FORWARDED_MARKER: &str = "x-lessor-forwarded";

/// The route label of requests a standby forwarded or redirected.
const FORWARDED_ROUTE: &str = "forwarded";

/// Headers that describe one connection, not the request (RFC 9110 section 7.6.1), plus those
/// the proxy sets itself.
const NOT_RELAYED: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The HTTP client a standby forwards with.
#[derive(Debug, Clone)]
pub struct Proxy {
    client: reqwest::Client,
}

impl Proxy {
    pub fn new() -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            // The active node's 307s and errors are the client's to see, not ours to follow.
            .redirect(reqwest::redirect::Policy::none())
            // Node-to-node traffic never goes through an HTTP(S)_PROXY from the environment.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| {
                ApiError::internal(format!("building the forwarding client: {error}"))
            })?;
        Ok(Self { client })
    }
}

/// Paths a standby serves itself (everything else is the active node's).
fn answered_locally(path: &str, state: &AppState) -> bool {
    match path {
        "/v1/sys/health"
        | "/v1/sys/leader"
        | "/v1/sys/seal-status"
        | "/v1/sys/init"
        | "/v1/sys/unseal"
        | "/v1/sys/seal" => true,
        "/v1/sys/metrics" => state.limits.unauthenticated_metrics_access,
        other => !other.starts_with("/v1/"),
    }
}

/// Middleware in front of every handler: on a standby, sends the request on to the active
/// node unless it is one the standby answers itself.
pub(super) async fn standby(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.core.mode() != NodeMode::Standby || answered_locally(request.uri().path(), &state) {
        return next.run(request).await;
    }
    let mut response = match forward(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response
        .extensions_mut()
        .insert(RouteLabel(SharedString::const_str(FORWARDED_ROUTE)));
    response
}

async fn forward(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let (Some(ha), Some(proxy)) = (state.core.ha(), state.proxy.as_ref()) else {
        return Err(ApiError::NotActive);
    };
    if request.headers().contains_key(FORWARDED_MARKER) {
        return Err(ApiError::NotActive);
    }
    let leader = match ha.forward_target().await {
        Ok(Some(leader)) => leader,
        Ok(None) => return Err(ApiError::NoActiveNode),
        Err(error) => {
            tracing::warn!(%error, "cannot read the HA leader to forward a request");
            return Err(ApiError::NoActiveNode);
        }
    };
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let target = format!("{leader}{path_and_query}");
    if ha.disable_forwarding() {
        let location = HeaderValue::try_from(target)
            .map_err(|_| ApiError::invalid("the request path cannot be redirected"))?;
        return Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response());
    }

    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address);
    let client = client_address(
        request.headers(),
        peer,
        &state.limits.x_forwarded_for_authorized_addrs,
    );
    let (parts, body) = request.into_parts();
    let body = read_body(body, state.limits.max_request_size).await?;
    let mut headers = relayed(&parts.headers);
    headers.remove(header::FORWARDED);
    headers.remove("x-forwarded-for");
    if let Some(client) = client
        && let Ok(value) = HeaderValue::try_from(client.ip().to_string())
    {
        headers.insert("x-forwarded-for", value);
    }
    headers.insert(FORWARDED_MARKER, HeaderValue::from_static("1"));

    let sent = proxy
        .client
        .request(parts.method, &target)
        .headers(headers)
        .body(body)
        .timeout(state.limits.max_request_duration)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(error) => {
            // The leader row may name a node that just died: read it again next time.
            ha.forget_leader();
            // The URL (with the client's query) stays out of the log.
            let error = error.without_url();
            tracing::warn!(%error, "forwarding to the active node failed");
            return Err(if error.is_timeout() {
                ApiError::Timeout
            } else if error.is_connect() {
                ApiError::NoActiveNode
            } else {
                ApiError::Upstream("forwarding to the active node failed".into())
            });
        }
    };
    let status = answer.status();
    let headers = relayed(answer.headers());
    let bytes = answer.bytes().await.map_err(|error| {
        tracing::warn!(error = %error.without_url(), "reading the active node's answer failed");
        ApiError::Upstream("forwarding to the active node failed".into())
    })?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// `headers` without the hop-by-hop ones, including any the `Connection` header names.
fn relayed(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    let mut out = headers.clone();
    for name in NOT_RELAYED {
        out.remove(name);
    }
    for name in named {
        out.remove(name);
    }
    out
}

/// The client's address: the peer's, unless the peer is an authorized forwarder and says
/// otherwise in `X-Forwarded-For`, whose last entry (the one that peer added) counts.
pub(super) fn client_address(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    authorized: &[ipnet::IpNet],
) -> Option<SocketAddr> {
    let peer = peer?;
    if !authorized.iter().any(|net| net.contains(&peer.ip())) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .rfind(|entry| !entry.is_empty())
        .and_then(parse_forwarded_entry);
    Some(forwarded.map_or(peer, |ip| SocketAddr::new(ip, 0)))
}

/// One `X-Forwarded-For` entry: an address, possibly `[v6]` or with a port.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::try_from(*value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn forwarded_for_is_believed_only_from_authorized_peers() {
        let authorized: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let claim = headers(&[("x-forwarded-for", "6.6.6.6, 192.0.2.7")]);
        let stranger: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        assert_eq!(
            client_address(&claim, Some(stranger), &authorized),
            Some(stranger)
        );
        let peer: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert_eq!(
            client_address(&claim, Some(peer), &authorized).map(|a| a.ip()),
            Some("192.0.2.7".parse().unwrap())
        );
        // No header, or garbage: the peer itself.
        assert_eq!(
            client_address(&HeaderMap::new(), Some(peer), &authorized),
            Some(peer)
        );
        let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(
            client_address(&garbage, Some(peer), &authorized),
            Some(peer)
        );
        // Nothing authorized: never believed.
        assert_eq!(client_address(&claim, Some(peer), &[]), Some(peer));
    }

    #[test]
    fn forwarded_entries_with_ports_and_brackets() {
        assert_eq!(
            parse_forwarded_entry("192.0.2.1:443"),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            parse_forwarded_entry("[2001:db8::1]"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_forwarded_entry("[2001:db8::1]:80"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_forwarded_entry("unknown"), None);
    }

    #[test]
    fn hop_by_hop_headers_are_not_relayed() {
        let relayed = relayed(&headers(&[
            ("connection", "keep-alive, x-private-hop"),
            ("x-private-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("host", "standby:8200"),
            ("x-vault-token", "kept"),
            ("content-type", "application/json"),
        ]));
        let mut names: Vec<&str> = relayed.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "x-vault-token"]);
    }
}
