//! The seal-lifecycle endpoints, which answer while sealed: `sys/init`, `sys/unseal`,
//! `sys/seal-status`, `sys/seal`, `sys/health`, `sys/leader`, `sys/rekey/*`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::AppState;
use super::logical::{client_token, json_object, read_body, remote_addr, request_id};
use crate::core::{NodeMode, SealStatusView, UnsealOutcome};
use crate::error::ApiError;
use crate::request::{LogicalRequest, LogicalResponse};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Reads and decodes a JSON body under the listener's size limit.
async fn decode<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_body(body, state.limits.max_request_size).await?;
    crate::system::decode(&json_object(&bytes)?)
}

/// Refuses methods an endpoint does not serve, with Vault's JSON error body.
fn allow(method: &Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedOperation)
    }
}

fn seal_status_json(status: &SealStatusView) -> serde_json::Value {
    serde_json::json!({
        "type": "shamir",
        "initialized": status.initialized,
        "sealed": status.sealed,
        "t": status.threshold,
        "n": status.shares,
        "progress": status.progress,
        "nonce": status.nonce,
        "version": VERSION,
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": "",
    })
}

async fn init_status(state: &AppState) -> Result<Response, ApiError> {
    let status = state.core.seal_status().await?;
    Ok(Json(serde_json::json!({ "initialized": status.initialized })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitBody {
    #[serde(default = "default_shares")]
    secret_shares: u64,
    #[serde(default = "default_threshold")]
    secret_threshold: u64,
    #[serde(default)]
    pgp_keys: Option<Vec<String>>,
    #[serde(default)]
    root_token_pgp_key: Option<String>,
    #[serde(default)]
    stored_shares: Option<u64>,
    #[serde(default)]
    recovery_shares: Option<u64>,
    #[serde(default)]
    recovery_threshold: Option<u64>,
    #[serde(default)]
    recovery_pgp_keys: Option<Vec<String>>,
}

fn default_shares() -> u64 {
    5
}

fn default_threshold() -> u64 {
    3
}

/// The shares as Vault shows them: hex (`keys`) and base64 (`keys_base64`). The strings go
/// straight into the response body; they are shown once and never logged.
fn encoded_shares(shares: &[lessor_seal::Share]) -> (Vec<String>, Vec<String>) {
    shares
        .iter()
        .map(|share| (share.to_hex().to_string(), share.to_base64().to_string()))
        .unzip()
}

fn share_count(value: u64, name: &str) -> Result<u8, ApiError> {
    u8::try_from(value).map_err(|_| ApiError::invalid(format!("{name} must be between 1 and 255")))
}

pub(super) async fn init(
    State(state): State<AppState>,
    method: Method,
    body: Body,
) -> Result<Response, ApiError> {
    if method == Method::GET {
        return init_status(&state).await;
    }
    allow(&method, &[Method::PUT, Method::POST])?;
    let body: InitBody = decode(&state, body).await?;
    if body.pgp_keys.as_ref().is_some_and(|k| !k.is_empty())
        || body
            .root_token_pgp_key
            .as_ref()
            .is_some_and(|k| !k.is_empty())
        || body
            .recovery_pgp_keys
            .as_ref()
            .is_some_and(|k| !k.is_empty())
    {
        return Err(ApiError::invalid(
            "PGP-encrypted key shares are not supported",
        ));
    }
    if body.stored_shares.unwrap_or(0) != 0
        || body.recovery_shares.unwrap_or(0) != 0
        || body.recovery_threshold.unwrap_or(0) != 0
    {
        return Err(ApiError::invalid(
            "stored and recovery shares need an auto-unseal, which Lessor does not have",
        ));
    }
    let shares = share_count(body.secret_shares, "secret_shares")?;
    let threshold = share_count(body.secret_threshold, "secret_threshold")?;
    let output = state.core.initialize(shares, threshold).await?;
    let (keys, keys_base64) = encoded_shares(&output.shares);
    tracing::info!(shares, threshold, "broker initialized");
    Ok(Json(serde_json::json!({
        "keys": keys,
        "keys_base64": keys_base64,
        "root_token": output.root_token.as_str(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsealBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    reset: bool,
    #[serde(default)]
    migrate: bool,
}

pub(super) async fn unseal(
    State(state): State<AppState>,
    method: Method,
    body: Body,
) -> Result<Response, ApiError> {
    allow(&method, &[Method::PUT, Method::POST])?;
    let body: UnsealBody = decode(&state, body).await?;
    if body.migrate {
        return Err(ApiError::invalid("seal migration is not supported"));
    }
    if !state.core.seal_status().await?.initialized {
        return Err(ApiError::NotInitialized);
    }
    if body.reset {
        state.core.reset_unseal().await;
    } else {
        let key = body
            .key
            .as_deref()
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "'key' must be specified in request body as JSON, or 'reset' set to true",
                )
            })?;
        let key = zeroize::Zeroizing::new(key.to_string());
        if let UnsealOutcome::Unsealed = state.core.submit_unseal_share(&key).await? {
            // Progress is reported by the status below.
        }
    }
    let status = state.core.seal_status().await?;
    Ok(Json(seal_status_json(&status)).into_response())
}

pub(super) async fn seal_status(
    State(state): State<AppState>,
    method: Method,
) -> Result<Response, ApiError> {
    allow(&method, &[Method::GET])?;
    let status = state.core.seal_status().await?;
    Ok(Json(seal_status_json(&status)).into_response())
}

/// `sys/seal` needs a token whose policy grants `update` with `sudo` on `sys/seal`.
pub(super) async fn seal(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    if method != Method::PUT && method != Method::POST {
        return Err(ApiError::UnsupportedOperation);
    }
    if state.core.mode() == NodeMode::Standby {
        // As in Vault: a standby has no token store to check the caller against.
        return Err(ApiError::invalid(
            "a standby cannot check the caller's token, so it cannot be sealed through the API; seal the active node, or stop this one",
        ));
    }
    let unsealed = state.core.unsealed()?;
    let request = LogicalRequest {
        id: request_id(),
        operation: lessor_sdk::Operation::Update,
        path: "sys/seal".into(),
        data: Default::default(),
        token: client_token(&headers),
        remote_addr: remote_addr(&state, &headers, connect),
    };
    // Audited like any request. Sealing drops the audit salts, so both lines are written
    // before it; sealing itself cannot fail.
    let mut audit = unsealed.audit().begin(&request);
    let checked = async {
        let caller = unsealed.authenticate(&request).await?;
        unsealed.authorize_audited(
            &mut audit,
            &caller,
            "sys/seal",
            lessor_sdk::Operation::Update,
            &request,
            true,
        )?;
        audit.admit(Some(&caller))
    }
    .await;
    audit.finish(checked.map(|()| LogicalResponse::no_content()))?;
    drop(unsealed);
    state.core.seal().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `sys/health` status-code overrides, as Vault's query parameters.
#[derive(Debug, Deserialize, Default)]
pub(super) struct HealthQuery {
    standbyok: Option<bool>,
    activecode: Option<u16>,
    standbycode: Option<u16>,
    sealedcode: Option<u16>,
    uninitcode: Option<u16>,
    perfstandbyok: Option<bool>,
    performancestandbycode: Option<u16>,
    drsecondarycode: Option<u16>,
    /// Lessor: the code while audit devices block every request (default 503).
    auditfailurecode: Option<u16>,
}

pub(super) async fn health(
    State(state): State<AppState>,
    method: Method,
    query: Result<Query<HealthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    allow(&method, &[Method::GET, Method::HEAD])?;
    let Query(query) = query.map_err(|error| ApiError::invalid(error.body_text()))?;
    let _ = (
        query.perfstandbyok,
        query.performancestandbycode,
        query.drsecondarycode,
    );
    let mode = state.core.mode();
    // An unsealed node is initialized by definition: no storage read (a standby reads nothing
    // but the leader row).
    let (initialized, sealed) = match mode {
        NodeMode::Sealed => (state.core.seal_status().await?.initialized, true),
        NodeMode::Standby | NodeMode::Active => (true, false),
    };
    let standby = mode == NodeMode::Standby;
    // An unsealed broker whose audit devices all fail refuses every request: not healthy.
    let audit_failure = mode == NodeMode::Active && state.core.audit_blocked();
    let code = if !initialized {
        query.uninitcode.unwrap_or(501)
    } else if sealed {
        query.sealedcode.unwrap_or(503)
    } else if standby {
        if query.standbyok == Some(true) {
            query.activecode.unwrap_or(200)
        } else {
            query.standbycode.unwrap_or(429)
        }
    } else if audit_failure {
        query.auditfailurecode.unwrap_or(503)
    } else {
        query.activecode.unwrap_or(200)
    };
    let code = StatusCode::from_u16(code)
        .map_err(|_| ApiError::invalid("invalid status code override"))?;
    let now = state.core.clock().now().unix_timestamp();
    let body = serde_json::json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": standby,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now,
        "version": VERSION,
        "cluster_name": "lessor",
        "cluster_id": "",
        "audit_failure": audit_failure,
    });
    if method == Method::HEAD {
        return Ok(code.into_response());
    }
    Ok((code, Json(body)).into_response())
}

pub(super) async fn leader(
    State(state): State<AppState>,
    method: Method,
) -> Result<Response, ApiError> {
    allow(&method, &[Method::GET])?;
    let leader = state.core.leader_status().await?;
    // Vault's zero time when the node does not know when the active node took over.
    let active_time = leader
        .active_time
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    Ok(Json(serde_json::json!({
        "ha_enabled": leader.ha_enabled,
        "is_self": leader.is_self,
        "active_time": active_time,
        "leader_address": leader.leader_address,
        "leader_cluster_address": leader.leader_cluster_address,
        "performance_standby": false,
        "performance_standby_last_remote_wal": 0,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RekeyInitBody {
    #[serde(default = "default_shares")]
    secret_shares: u64,
    #[serde(default = "default_threshold")]
    secret_threshold: u64,
    #[serde(default)]
    pgp_keys: Option<Vec<String>>,
    #[serde(default)]
    backup: bool,
    #[serde(default)]
    require_verification: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RekeyUpdateBody {
    key: String,
    nonce: String,
}

fn rekey_status_json(status: &lessor_seal::RekeyStatus) -> serde_json::Value {
    serde_json::json!({
        "nonce": status.nonce,
        "started": status.started,
        "t": status.t,
        "n": status.n,
        "progress": status.progress,
        "required": status.required,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": false,
        "verification_nonce": "",
    })
}

/// Runs one `sys/rekey/*` request under the audit devices, like any request: the request
/// line is written before anything changes (no device, no rekey) and the answer after.
/// No token authorizes rekeying (the unseal-key shares do, as in Vault), so the lines carry no
/// identity; the shares sent and the new keys returned are data, hashed like any data.
async fn audited_rekey(
    state: &AppState,
    request: LogicalRequest,
    run: impl std::future::Future<Output = Result<Option<serde_json::Value>, ApiError>>,
) -> Result<Response, ApiError> {
    let unsealed = state.core.unsealed()?;
    let mut audit = unsealed.audit().begin(&request);
    let result = match audit.admit(None) {
        Ok(()) => run.await,
        Err(error) => Err(error),
    };
    let answer = audit.finish(result.map(|body| match body {
        Some(serde_json::Value::Object(data)) => LogicalResponse::data(data),
        _ => LogicalResponse::no_content(),
    }))?;
    Ok(match answer.data {
        Some(data) => Json(serde_json::Value::Object(data)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// The audit's view of a `sys/rekey/*` request.
fn rekey_request(
    state: &AppState,
    path: &str,
    method: &Method,
    data: lessor_sdk::Map,
    headers: &HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> LogicalRequest {
    let operation = match *method {
        Method::GET => lessor_sdk::Operation::Read,
        Method::DELETE => lessor_sdk::Operation::Delete,
        _ => lessor_sdk::Operation::Update,
    };
    LogicalRequest {
        id: request_id(),
        operation,
        path: path.into(),
        data,
        token: client_token(headers),
        remote_addr: remote_addr(state, headers, connect),
    }
}

/// `sys/rekey/init`: GET status, PUT/POST start, DELETE cancel. Authenticated by the current
/// unseal key shares themselves, as in Vault; requires an unsealed broker.
pub(super) async fn rekey_init(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Body,
) -> Result<Response, ApiError> {
    state.core.unsealed()?;
    let data = match method {
        Method::PUT | Method::POST => {
            json_object(&read_body(body, state.limits.max_request_size).await?)?
        }
        Method::GET | Method::DELETE => lessor_sdk::Map::new(),
        _ => return Err(ApiError::UnsupportedOperation),
    };
    let request = rekey_request(
        &state,
        "sys/rekey/init",
        &method,
        data.clone(),
        &headers,
        connect,
    );
    let seal = state.core.seal_manager();
    audited_rekey(&state, request, async {
        let status = match method {
            Method::GET => seal.rekey_status().await.map_err(crate::core::seal_error)?,
            Method::DELETE => {
                seal.rekey_cancel().await;
                return Ok(None);
            }
            _ => {
                let body: RekeyInitBody = crate::system::decode(&data)?;
                if body.pgp_keys.as_ref().is_some_and(|k| !k.is_empty())
                    || body.backup
                    || body.require_verification
                {
                    return Err(ApiError::invalid(
                        "PGP keys, backup and verification are not supported for rekey",
                    ));
                }
                seal.rekey_init(
                    share_count(body.secret_shares, "secret_shares")?,
                    share_count(body.secret_threshold, "secret_threshold")?,
                )
                .await
                .map_err(crate::core::seal_error)?
            }
        };
        Ok(Some(rekey_status_json(&status)))
    })
    .await
}

pub(super) async fn rekey_update(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Body,
) -> Result<Response, ApiError> {
    allow(&method, &[Method::PUT, Method::POST])?;
    state.core.unsealed()?;
    let data = json_object(&read_body(body, state.limits.max_request_size).await?)?;
    let request = rekey_request(
        &state,
        "sys/rekey/update",
        &method,
        data.clone(),
        &headers,
        connect,
    );
    let seal = state.core.seal_manager();
    audited_rekey(&state, request, async {
        let body: RekeyUpdateBody = crate::system::decode(&data)?;
        let share = lessor_seal::decode_share(&body.key).map_err(crate::core::seal_error)?;
        let step = seal
            .rekey_update(&share, &body.nonce)
            .await
            .map_err(crate::core::seal_error)?;
        Ok(Some(match step {
            lessor_seal::RekeyStep::Progress { .. } => {
                let status = seal.rekey_status().await.map_err(crate::core::seal_error)?;
                rekey_status_json(&status)
            }
            lessor_seal::RekeyStep::Complete(result) => {
                tracing::info!("unseal key rekeyed");
                let (keys, keys_base64) = encoded_shares(&result.shares);
                serde_json::json!({
                    "complete": true,
                    "nonce": result.nonce,
                    "keys": keys,
                    "keys_base64": keys_base64,
                    "pgp_fingerprints": null,
                    "backup": false,
                    "verification_required": false,
                })
            }
        }))
    })
    .await
}
