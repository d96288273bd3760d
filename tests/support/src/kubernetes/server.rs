//! The stand-in's HTTPS face: a throwaway CA and serving certificate, a rustls (aws-lc-rs)
//! listener speaking HTTP/1.1 and HTTP/2, and the three API-server endpoints token validation
//! uses — TokenReview, the JWKS and OIDC discovery — with the API server's status codes and
//! `Status` bodies for failures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::authentication::v1::{
    TokenReview, TokenReviewSpec, TokenReviewStatus, UserInfo,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::State;

/// The names a real API server certificate carries, plus loopback where we actually listen.
const SERVER_NAMES: &[&str] = &[
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// A CA certificate (PEM) and a rustls config for a server certificate it signed.
pub(super) struct Tls {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

pub(super) fn tls() -> anyhow::Result<Tls> {
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "lessor-test-kubernetes-ca");
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .context("self-signing the CA")?;
    let ca = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().context("generating the server key")?;
    let names: Vec<String> = SERVER_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut server_params = CertificateParams::new(names)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let server_cert = server_params
        .signed_by(&server_key, &ca)
        .context("signing the server certificate")?;

    let chain = vec![
        CertificateDer::from(server_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    // Name the provider: with a process-wide default left unset, rustls would have to guess.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("TLS server certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

/// Accepts connections until the task is aborted; aborting drops the `JoinSet` and with it
/// every open connection, so nothing outlives the `FakeKubernetes`.
pub(super) async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    let app = router(state);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // A failed accept (e.g. too many open files) concerns one client; keep serving.
                let Ok((tcp, _peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    // A client that fails the handshake or drops the connection only hurts
                    // itself; the test that made it sees its own error.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

pub(super) async fn bind() -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the Kubernetes stand-in")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .route("/openid/v1/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .fallback(not_found)
        .with_state(state)
}

/// The part of a TokenReview request we read; `kind`/`apiVersion` are checked when present.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewRequest {
    kind: Option<String>,
    api_version: Option<String>,
    #[serde(default)]
    spec: ReviewSpec,
}

#[derive(Deserialize, Default)]
struct ReviewSpec {
    #[serde(default)]
    token: String,
    #[serde(default)]
    audiences: Vec<String>,
}

async fn token_review(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.token_reviews.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    let Some(bearer) = bearer(&headers) else {
        return unauthorized();
    };
    let Ok(reviewer) = state.authenticate(bearer, &[]) else {
        return unauthorized();
    };
    if !state.may_review(&reviewer.username) {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "tokenreviews.authentication.k8s.io is forbidden: User \"{}\" cannot create \
                 resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the \
                 cluster scope",
                reviewer.username
            ),
        );
    }
    let Ok(request) = serde_json::from_slice::<ReviewRequest>(&body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not a TokenReview",
        );
    };
    if request.kind.as_deref().is_some_and(|k| k != "TokenReview")
        || request
            .api_version
            .as_deref()
            .is_some_and(|v| v != "authentication.k8s.io/v1")
    {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not a TokenReview",
        );
    }
    if request.spec.token.is_empty() {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "token is required for TokenReview in authentication",
        );
    }

    let review_status = match state.authenticate(&request.spec.token, &request.spec.audiences) {
        Ok(user) => TokenReviewStatus {
            authenticated: Some(true),
            audiences: Some(user.audiences),
            user: Some(UserInfo {
                username: Some(user.username),
                uid: Some(user.uid),
                groups: Some(user.groups),
                extra: (!user.extra.is_empty()).then_some(user.extra),
            }),
            error: None,
        },
        // The API server leaves `authenticated` out (omitempty false) and sends an empty user.
        Err(error) => TokenReviewStatus {
            authenticated: None,
            audiences: None,
            user: Some(UserInfo::default()),
            error: Some(error),
        },
    };
    let review = TokenReview {
        metadata: Default::default(),
        spec: TokenReviewSpec {
            token: request.spec.token,
            audiences: (!request.spec.audiences.is_empty()).then_some(request.spec.audiences),
        },
        status: Some(review_status),
    };
    // Create answers 201, as for every other resource.
    json(StatusCode::CREATED, "application/json", &review)
}

async fn jwks(Extract(state): Extract<Arc<State>>, headers: HeaderMap) -> Response {
    if state.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    if let Some(denied) = anonymous_or_valid(&state, &headers) {
        return denied;
    }
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<serde_json::Value> = state.keys().verifying().map(|k| k.jwk()).collect();
    json(
        StatusCode::OK,
        "application/jwk-set+json",
        &serde_json::json!({ "keys": keys }),
    )
}

async fn discovery(Extract(state): Extract<Arc<State>>, headers: HeaderMap) -> Response {
    if state.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    if let Some(denied) = anonymous_or_valid(&state, &headers) {
        return denied;
    }
    json(
        StatusCode::OK,
        "application/json",
        &serde_json::json!({
            "issuer": state.issuer,
            "jwks_uri": state.jwks_url,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
    )
}

async fn not_found(Extract(state): Extract<Arc<State>>) -> Response {
    if state.down.load(Ordering::SeqCst) {
        return unavailable();
    }
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// Discovery is anonymous here (`--anonymous-auth` with the discovery role bound), but a bearer
/// that is present must still be valid: the API server rejects a bad one before authorizing.
fn anonymous_or_valid(state: &State, headers: &HeaderMap) -> Option<Response> {
    // No Authorization header at all: anonymous, allowed.
    headers.get(header::AUTHORIZATION)?;
    match bearer(headers) {
        Some(token) if state.authenticate(token, &[]).is_ok() => None,
        _ => Some(unauthorized()),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unauthorized() -> Response {
    status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}

fn unavailable() -> Response {
    status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
    )
}

/// A `meta/v1` `Status` failure body, what every API-server error response carries.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json(
        code,
        "application/json",
        &serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16(),
        }),
    )
}

fn json(code: StatusCode, content_type: &'static str, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (code, [(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
