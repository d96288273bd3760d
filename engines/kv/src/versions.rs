//! `delete/<path>`, `undelete/<path>` and `destroy/<path>`: acting on chosen versions.
//!
//! Delete and undelete only move a version's `deletion_time`; its data stays. Destroy removes
//! the data for good and keeps a `destroyed` marker in the metadata, in the same batch.
//! Versions that do not exist are skipped, and a key that does not exist is a no-op, as in
//! Vault.

use lessor_sdk::{EngineContext, Request, Response};

use crate::error::KvError;
use crate::fields;
use crate::key_lock::KeyLocks;
use crate::record::KeyMetadata;
use crate::secret_path::SecretPath;
use crate::store;

/// What to do to each chosen version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Delete,
    Undelete,
    Destroy,
}

pub(crate) async fn apply(
    action: Action,
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &["versions"])?;
    let path = SecretPath::parse(request.params.get("path"))?;
    let numbers = fields::versions(&request.data)?;

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let now = ctx.clock.now();
    let Some(mut meta) = store::load_metadata(storage, &path).await? else {
        return Ok(Response::no_content());
    };
    let mut ops = Vec::new();
    match action {
        Action::Delete => {
            for number in numbers {
                if let Some(version) = meta.versions.get_mut(&number)
                    && version.is_live(now)
                {
                    version.deletion_time = Some(now);
                }
            }
        }
        Action::Undelete => {
            let config = store::load_config(storage).await?;
            // Undeleting restarts the `delete_version_after` clock, as Vault does.
            let deletion_time = meta.deletion_time(&config, now);
            for number in numbers {
                if let Some(version) = meta.versions.get_mut(&number)
                    && !version.destroyed
                {
                    version.deletion_time = deletion_time;
                }
            }
        }
        Action::Destroy => {
            for number in numbers {
                if destroy(&mut meta, number) {
                    ops.push(store::delete_op(store::version_key(&path, number)));
                }
            }
        }
    }
    ops.push(store::put_op(store::metadata_key(&path), &meta)?);
    storage.apply(ops).await?;
    Ok(Response::no_content())
}

/// Marks a version destroyed; false when there is nothing to destroy.
fn destroy(meta: &mut KeyMetadata, number: u64) -> bool {
    match meta.versions.get_mut(&number) {
        Some(version) if !version.destroyed => {
            version.destroyed = true;
            true
        }
        _ => false,
    }
}
