//! `sys/leases/*` (and the legacy `sys/renew`, `sys/revoke`): lookup, renew, revoke,
//! revoke-prefix, revoke-force, tidy, count and the irrevocable list.

use lessor_sdk::{Operation, Ttl};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use super::{SysRequest, object};
use crate::error::ApiError;
use crate::lease::LeaseState;
use crate::request::LogicalResponse;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    #[serde(default)]
    lease_id: Option<String>,
    /// Vault's older name for it.
    #[serde(default)]
    url_lease_id: Option<String>,
    #[serde(default)]
    increment: Option<Ttl>,
    /// Vault's `sync` defaults to true; async revocation is not offered, so `false` is refused
    /// rather than silently ignored.
    #[serde(default)]
    sync: Option<bool>,
}

/// The lease id from the path (`…/renew/<id>`) or the body.
fn lease_id(sys: &SysRequest<'_>, body: &LeaseBody) -> Result<String, ApiError> {
    let from_path = sys.params.get("id");
    let id = if from_path.is_empty() {
        body.lease_id
            .clone()
            .or_else(|| body.url_lease_id.clone())
            .unwrap_or_default()
    } else {
        from_path.to_string()
    };
    let id = id.trim_start_matches('/').to_string();
    if id.is_empty() {
        return Err(ApiError::invalid("lease_id must be specified"));
    }
    Ok(id)
}

fn rfc3339(time: time::OffsetDateTime) -> Result<String, ApiError> {
    time.format(&Rfc3339).map_err(ApiError::internal)
}

pub(super) async fn lookup(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    if sys.request.operation == Operation::List {
        let prefix = sys.params.get("prefix");
        let keys = sys.unsealed.leases().list(prefix).await?;
        if keys.is_empty() {
            return Err(ApiError::NotFound(String::new()));
        }
        return object(serde_json::json!({ "keys": keys }));
    }
    let body: LeaseBody = sys.decode()?;
    let id = lease_id(sys, &body)?;
    let record = sys.unsealed.leases().lookup(&id).await?;
    let now = sys.unsealed.clock().now();
    let ttl = (record.expire_time - now).whole_seconds().max(0);
    object(serde_json::json!({
        "id": record.id,
        "issue_time": rfc3339(record.issue_time)?,
        "expire_time": rfc3339(record.expire_time)?,
        "last_renewal": record.last_renewal.map(rfc3339).transpose()?,
        "renewable": record.renewable && record.state == LeaseState::Active,
        "ttl": ttl,
    }))
}

pub(super) async fn renew(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let body: LeaseBody = sys.decode()?;
    let id = lease_id(sys, &body)?;
    let increment = body.increment.filter(|ttl| !ttl.is_zero()).map(|ttl| ttl.0);
    let renewed = sys.unsealed.leases().renew(&id, increment).await?;
    Ok(LogicalResponse {
        data: renewed.data,
        lease_id: renewed.lease_id,
        lease_duration: renewed.ttl.as_secs(),
        renewable: renewed.renewable,
        warnings: renewed.warnings,
        auth: None,
    })
}

pub(super) async fn revoke(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let body: LeaseBody = sys.decode()?;
    if body.sync == Some(false) {
        return Err(ApiError::invalid(
            "asynchronous revocation is not supported; omit sync or set it to true",
        ));
    }
    let id = lease_id(sys, &body)?;
    sys.unsealed.leases().revoke(&id).await?;
    Ok(LogicalResponse::no_content())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixBody {
    #[serde(default)]
    sync: Option<bool>,
}

pub(super) async fn revoke_prefix(
    sys: &SysRequest<'_>,
    force: bool,
) -> Result<LogicalResponse, ApiError> {
    let body: PrefixBody = sys.decode()?;
    if body.sync == Some(false) {
        return Err(ApiError::invalid(
            "asynchronous revocation is not supported",
        ));
    }
    let prefix = sys.params.get("prefix");
    if prefix.is_empty() {
        return Err(ApiError::invalid("a prefix is required"));
    }
    let leases = sys.unsealed.leases();
    let count = if force {
        leases.revoke_force(prefix).await?
    } else {
        leases.revoke_prefix(prefix).await?
    };
    tracing::info!(prefix, count, force, "leases revoked by prefix");
    Ok(LogicalResponse::no_content())
}

pub(super) async fn tidy(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let overdue = sys.unsealed.leases().tidy().await?;
    let mut response = LogicalResponse::no_content();
    if overdue > 0 {
        response
            .warnings
            .push(format!("{overdue} overdue lease(s) queued for revocation"));
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountQuery {
    #[serde(default, rename = "type")]
    lease_type: Option<String>,
    #[serde(default)]
    include_child_namespaces: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn state_filter(query: &CountQuery) -> Result<Option<LeaseState>, ApiError> {
    let _ = &query.include_child_namespaces;
    match query.lease_type.as_deref() {
        None | Some("") => Err(ApiError::invalid("type must be one of: irrevocable, all")),
        Some("irrevocable") => Ok(Some(LeaseState::Irrevocable)),
        Some("all") => Ok(None),
        Some(other) => Err(ApiError::invalid(format!(
            "unknown lease type {other:?}: use irrevocable or all"
        ))),
    }
}

/// `sys/leases/count?type=irrevocable|all`.
pub(super) async fn count(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let query: CountQuery = sys.decode()?;
    let state = state_filter(&query)?;
    let leases = sys.unsealed.leases();
    let mut counts = serde_json::Map::new();
    let mut total = 0;
    let mounts = sys.unsealed.router();
    let paths = mounts
        .mounts()
        .iter()
        .map(|mounted| mounted.entry.path.clone())
        .chain(std::iter::once(crate::lease::TOKEN_MOUNT.to_string()));
    for path in paths {
        let n = leases.count(&path, state).await?;
        if n > 0 {
            counts.insert(path, n.into());
        }
        total += n;
    }
    object(serde_json::json!({ "lease_count": total, "counts": counts }))
}

/// `sys/leases?type=irrevocable`: the irrevocable leases with their last error.
pub(super) async fn list_irrevocable(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let query: CountQuery = sys.decode()?;
    if state_filter(&query)? != Some(LeaseState::Irrevocable) {
        return Err(ApiError::invalid("only type=irrevocable can be listed"));
    }
    let limit = match query.limit.as_deref() {
        None | Some("") | Some("none") => 10_000,
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::invalid("limit must be a number or \"none\""))?,
    };
    let records = sys.unsealed.leases().irrevocable("", limit).await?;
    let leases: Vec<serde_json::Value> = records
        .iter()
        .map(|record| {
            Ok(serde_json::json!({
                "lease_id": record.id,
                "mount_id": record.mount,
                "error": record.last_error.clone().unwrap_or_default(),
                "expire_time": rfc3339(record.expire_time)?,
            }))
        })
        .collect::<Result<_, ApiError>>()?;
    object(serde_json::json!({ "lease_count": leases.len(), "leases": leases }))
}
