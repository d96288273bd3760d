//! `sys/mounts` and `sys/auth`: list, enable, read, tune and disable mounts.

use lessor_sdk::{Map, Operation, Ttl};
use serde::Deserialize;

use super::{SysRequest, object};
use crate::core::MountRequest;
use crate::error::ApiError;
use crate::mount::{MountKind, MountTuning};
use crate::request::LogicalResponse;

/// The body of `POST sys/mounts/:path` / `sys/auth/:path`. Every field a Vault client sends
/// is accepted; the ones Lessor has no concept for must be left at their defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableBody {
    #[serde(rename = "type")]
    engine_type: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    config: Option<ConfigBody>,
    #[serde(default)]
    options: Option<Map>,
    #[serde(default)]
    local: bool,
    #[serde(default)]
    seal_wrap: bool,
    #[serde(default)]
    external_entropy_access: bool,
    #[serde(default)]
    plugin_name: Option<String>,
    #[serde(default)]
    plugin_version: Option<String>,
}

/// Mount tuning as clients send it. Only the TTLs and description mean something to
/// Lessor; the others are Vault UI/audit settings accepted (and ignored) so unmodified
/// clients, which send them with default values, keep working.
#[derive(Debug, Default, Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    default_lease_ttl: Option<Ttl>,
    max_lease_ttl: Option<Ttl>,
    description: Option<String>,
    #[serde(default)]
    force_no_cache: Option<bool>,
    #[serde(default)]
    audit_non_hmac_request_keys: Option<serde_json::Value>,
    #[serde(default)]
    audit_non_hmac_response_keys: Option<serde_json::Value>,
    #[serde(default)]
    listing_visibility: Option<String>,
    #[serde(default)]
    passthrough_request_headers: Option<serde_json::Value>,
    #[serde(default)]
    allowed_response_headers: Option<serde_json::Value>,
    #[serde(default)]
    options: Option<Map>,
    #[serde(default)]
    plugin_version: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

impl ConfigBody {
    fn tuning(&self) -> MountTuning {
        MountTuning {
            default_lease_ttl: self.default_lease_ttl.unwrap_or_default(),
            max_lease_ttl: self.max_lease_ttl.unwrap_or_default(),
        }
    }
}

fn entries(sys: &SysRequest<'_>, kind: MountKind) -> Map {
    let settings = sys.unsealed.settings();
    let (default_ttl, max_ttl) = (Ttl(settings.default_lease_ttl), Ttl(settings.max_lease_ttl));
    let mut map = Map::new();
    let builtin = match kind {
        MountKind::Secret => (
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
        ),
        MountKind::Auth => ("token/", "token", "token based credentials"),
    };
    map.insert(
        builtin.0.into(),
        serde_json::json!({
            "type": builtin.1, "description": builtin.2, "accessor": format!("{}_builtin", builtin.1),
            "uuid": "", "local": false, "seal_wrap": false, "external_entropy_access": false,
            "options": null,
            "config": {"default_lease_ttl": default_ttl.as_secs(), "max_lease_ttl": max_ttl.as_secs(), "force_no_cache": false},
        }),
    );
    for mounted in sys.unsealed.router().mounts() {
        if mounted.entry.kind != kind {
            continue;
        }
        let path = match kind {
            MountKind::Secret => mounted.entry.path.clone(),
            MountKind::Auth => mounted.entry.path.trim_start_matches("auth/").to_string(),
        };
        map.insert(path, mounted.entry.to_api(default_ttl, max_ttl));
    }
    map
}

pub(super) fn list(sys: &SysRequest<'_>, kind: MountKind) -> Result<LogicalResponse, ApiError> {
    Ok(LogicalResponse::data(entries(sys, kind)))
}

/// `sys/mounts/*path` (with the `…/tune` sub-path) and `sys/auth/*path`.
pub(super) async fn mount_path(
    sys: &SysRequest<'_>,
    kind: MountKind,
) -> Result<LogicalResponse, ApiError> {
    let raw = sys.params.get("path");
    if let Some(path) = raw
        .strip_suffix("/tune")
        .or_else(|| raw.strip_suffix("/tune/"))
    {
        return tune(sys, kind, path).await;
    }
    match sys.request.operation {
        Operation::Read => {
            let key = crate::mount::normalize_path(raw).map_err(ApiError::InvalidRequest)?;
            let entries = entries(sys, kind);
            let entry = entries
                .get(&key)
                .cloned()
                .ok_or_else(|| ApiError::invalid(format!("no mount at {key}")))?;
            object(entry)
        }
        Operation::Delete => {
            sys.unsealed.disable_mount(kind, raw).await?;
            Ok(LogicalResponse::no_content())
        }
        _ => {
            let body: EnableBody = sys.decode()?;
            if body.local || body.seal_wrap || body.external_entropy_access {
                return Err(ApiError::invalid(
                    "local, seal_wrap and external_entropy_access are not supported",
                ));
            }
            let _ = (&body.plugin_name, &body.plugin_version);
            let config = body.config.unwrap_or_default();
            let mut options = body.options.or(config.options.clone()).unwrap_or_default();
            options.retain(|_, value| !value.is_null());
            sys.unsealed
                .enable_mount(MountRequest {
                    kind,
                    path: raw.to_string(),
                    engine_type: body.engine_type,
                    description: body.description.unwrap_or_default(),
                    config: config.tuning(),
                    options,
                })
                .await?;
            Ok(LogicalResponse::no_content())
        }
    }
}

async fn tune(
    sys: &SysRequest<'_>,
    kind: MountKind,
    path: &str,
) -> Result<LogicalResponse, ApiError> {
    let relative = crate::mount::normalize_path(path).map_err(ApiError::InvalidRequest)?;
    let full = match kind {
        MountKind::Secret => relative,
        MountKind::Auth => format!("auth/{relative}"),
    };
    let router = sys.unsealed.router();
    let mounted = router
        .find(&full)
        .ok_or_else(|| ApiError::invalid(format!("no mount at {full}")))?;
    let settings = sys.unsealed.settings();
    if sys.request.operation == Operation::Read {
        let effective = |ttl: Ttl, system| if ttl.is_zero() { system } else { ttl.as_secs() };
        return object(serde_json::json!({
            "default_lease_ttl": effective(mounted.entry.config.default_lease_ttl, settings.default_lease_ttl.as_secs()),
            "max_lease_ttl": effective(mounted.entry.config.max_lease_ttl, settings.max_lease_ttl.as_secs()),
            "force_no_cache": false,
            "description": mounted.entry.description,
            "options": mounted.entry.options,
        }));
    }
    let body: ConfigBody = sys.decode()?;
    let mut tuning = mounted.entry.config.clone();
    if let Some(ttl) = body.default_lease_ttl {
        tuning.default_lease_ttl = ttl;
    }
    if let Some(ttl) = body.max_lease_ttl {
        tuning.max_lease_ttl = ttl;
    }
    sys.unsealed
        .tune_mount(&full, tuning, body.description)
        .await?;
    Ok(LogicalResponse::no_content())
}

/// `sys/internal/ui/mounts/:path`: which mount serves a path and its options. The Vault CLI's
/// `kv` commands use it to discover the KV version.
pub(super) fn ui_mount(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let path = sys.params.get("path");
    let router = sys.unsealed.router();
    let Some((crate::mount::Target::Mount(mounted), _)) = router.route(path) else {
        return Err(ApiError::PermissionDenied);
    };
    // A token learns about a mount only if its policies grant something inside it.
    if !sys.caller.acl.grants_under(&mounted.entry.path) {
        return Err(ApiError::PermissionDenied);
    }
    let settings = sys.unsealed.settings();
    let mut api = mounted
        .entry
        .to_api(Ttl(settings.default_lease_ttl), Ttl(settings.max_lease_ttl));
    if let Some(map) = api.as_object_mut() {
        map.insert("path".into(), mounted.entry.path.clone().into());
    }
    object(api)
}
