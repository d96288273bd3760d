//! `config`: the mount-wide defaults every key falls back to (`max_versions`, `cas_required`,
//! `delete_version_after`).

use lessor_sdk::{EngineContext, Request, Response};

use crate::error::KvError;
use crate::fields;
use crate::key_lock::KeyLocks;
use crate::store;

/// The lock name for the config record; secret paths are never empty, so it cannot collide.
const CONFIG_LOCK: &str = "";

/// GET `config`.
pub(crate) async fn read(ctx: &EngineContext, request: &Request) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &[])?;
    let config = store::load_config(ctx.storage.as_ref()).await?;
    Ok(Response::with_data(config.view()))
}

/// POST `config`: changes the settings given. For `delete_version_after`, 0 clears the
/// setting and a negative duration disables deletion times on every key, as in Vault.
pub(crate) async fn write(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    fields::allow_only(
        &request.data,
        &["cas_required", "delete_version_after", "max_versions"],
    )?;
    let max_versions = fields::uint32(&request.data, "max_versions")?;
    let cas_required = fields::boolean(&request.data, "cas_required")?;
    let delete_version_after = fields::signed_duration(&request.data, "delete_version_after")?;
    if max_versions.is_none() && cas_required.is_none() && delete_version_after.is_none() {
        return Ok(Response::no_content());
    }

    let _guard = locks.lock(&ctx.mount_path, CONFIG_LOCK).await;
    let storage = ctx.storage.as_ref();
    let mut config = store::load_config(storage).await?;
    if let Some(max_versions) = max_versions {
        config.max_versions = max_versions;
    }
    if let Some(cas_required) = cas_required {
        config.cas_required = cas_required;
    }
    if let Some(after) = delete_version_after {
        // Any negative value means "disabled"; Vault stores and shows it as -1s.
        config.delete_version_after = after.max(-1);
    }
    storage
        .apply(vec![store::put_op(store::CONFIG_KEY.to_string(), &config)?])
        .await?;
    Ok(Response::no_content())
}
