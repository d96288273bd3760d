//! `data/<path>` and `subkeys/<path>`: reading a version, writing and patching new versions,
//! and soft-deleting the latest one.
//!
//! Every write is check-and-set aware: `options.cas` must equal the current version (0 for
//! "only if absent") and is mandatory when the mount or the key sets `cas_required`. A new
//! version, the versions it pushes out of the `max_versions` window, and the metadata that
//! records all of it are committed as one storage batch.

use lessor_sdk::{EngineContext, Map, Request, Response};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::KvError;
use crate::fields;
use crate::key_lock::KeyLocks;
use crate::merge_patch::merge_object;
use crate::record::{KeyMetadata, MountConfig, StoredVersion};
use crate::secret_path::SecretPath;
use crate::store;

/// GET `data/<path>?version=N`: the version's data and metadata; the latest when `version`
/// is absent or 0. Deleted, destroyed and unknown versions are not found, as in Vault.
pub(crate) async fn read(ctx: &EngineContext, request: &Request) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &["version"])?;
    let path = SecretPath::parse(request.params.get("path"))?;
    let requested = fields::uint(&request.data, "version")?.unwrap_or(0);
    let (meta, number, version) = load_live(ctx, &path, requested).await?;
    let mut body = Map::new();
    body.insert("data".into(), Value::Object(version.data));
    body.insert("metadata".into(), Value::Object(meta.version_view(number)?));
    Ok(Response::with_data(body))
}

/// GET `subkeys/<path>?version=N&depth=D`: the shape of a version's data with every leaf
/// value replaced by `null`, so a caller can see which keys exist without reading secrets.
/// `depth` > 0 stops descending at that level.
pub(crate) async fn subkeys(ctx: &EngineContext, request: &Request) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &["version", "depth"])?;
    let path = SecretPath::parse(request.params.get("path"))?;
    let requested = fields::uint(&request.data, "version")?.unwrap_or(0);
    let depth = fields::uint(&request.data, "depth")?.unwrap_or(0);
    let (meta, number, version) = load_live(ctx, &path, requested).await?;
    let mut body = Map::new();
    body.insert(
        "subkeys".into(),
        Value::Object(skeleton(&version.data, depth, 1)),
    );
    body.insert("metadata".into(), Value::Object(meta.version_view(number)?));
    Ok(Response::with_data(body))
}

fn skeleton(data: &Map, depth: u64, level: u64) -> Map {
    data.iter()
        .map(|(key, value)| {
            let shape = match value {
                Value::Object(inner) if depth == 0 || level < depth => {
                    Value::Object(skeleton(inner, depth, level + 1))
                }
                _ => Value::Null,
            };
            (key.clone(), shape)
        })
        .collect()
}

/// POST/PUT `data/<path>` `{"data": {...}, "options": {"cas": N}}`: writes a new version and
/// returns its metadata.
pub(crate) async fn write(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &["data", "options"])?;
    let path = SecretPath::parse(request.params.get("path"))?;
    let data = required_data(&request.data)?;
    let cas = cas_option(&request.data)?;

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let now = ctx.clock.now();
    let config = store::load_config(storage).await?;
    let meta = store::load_metadata(storage, &path)
        .await?
        .unwrap_or_else(|| KeyMetadata::new(now));
    check_cas(cas, &config, &meta)?;
    commit_version(ctx, &path, &config, meta, data.clone(), now).await
}

/// PATCH `data/<path>`: merge-patches the latest version into a new one. The latest version
/// must exist and be live.
pub(crate) async fn patch(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &["data", "options"])?;
    let path = SecretPath::parse(request.params.get("path"))?;
    let changes = required_data(&request.data)?;
    let cas = cas_option(&request.data)?;

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let now = ctx.clock.now();
    let meta = store::load_metadata(storage, &path)
        .await?
        .ok_or(KvError::NotFound)?;
    let config = store::load_config(storage).await?;
    check_cas(cas, &config, &meta)?;
    let current = meta.current_version;
    match meta.versions.get(&current) {
        Some(version) if version.is_live(now) => {}
        _ => return Err(KvError::NotFound),
    }
    let mut data = store::load_version(storage, &path, current).await?.data;
    merge_object(&mut data, changes);
    commit_version(ctx, &path, &config, meta, data, now).await
}

/// DELETE `data/<path>`: soft-deletes the latest version. Nothing to delete is not an error.
pub(crate) async fn delete_latest(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &[])?;
    let path = SecretPath::parse(request.params.get("path"))?;

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let now = ctx.clock.now();
    let Some(mut meta) = store::load_metadata(storage, &path).await? else {
        return Ok(Response::no_content());
    };
    let current = meta.current_version;
    match meta.versions.get_mut(&current) {
        Some(version) if version.is_live(now) => version.deletion_time = Some(now),
        _ => return Ok(Response::no_content()),
    }
    storage
        .apply(vec![store::put_op(store::metadata_key(&path), &meta)?])
        .await?;
    Ok(Response::no_content())
}

/// The metadata, the resolved version number and the data of a live version.
async fn load_live(
    ctx: &EngineContext,
    path: &SecretPath,
    requested: u64,
) -> Result<(KeyMetadata, u64, StoredVersion), KvError> {
    let storage = ctx.storage.as_ref();
    let now = ctx.clock.now();
    let meta = store::load_metadata(storage, path)
        .await?
        .ok_or(KvError::NotFound)?;
    let number = if requested == 0 {
        meta.current_version
    } else {
        requested
    };
    let live = |meta: &KeyMetadata| {
        meta.versions
            .get(&number)
            .is_some_and(|version| version.is_live(now))
    };
    if !live(&meta) {
        return Err(KvError::NotFound);
    }
    match store::load_version(storage, path, number).await {
        Ok(version) => Ok((meta, number, version)),
        // Reads take no lock: a destroy or a pruning write may have removed the data between
        // our two reads. If the metadata now agrees it is gone, that is a plain 404.
        Err(KvError::Internal(reason)) => match store::load_metadata(storage, path).await? {
            Some(fresh) if live(&fresh) => Err(KvError::Internal(reason)),
            _ => Err(KvError::NotFound),
        },
        Err(other) => Err(other),
    }
}

/// Records `data` as the next version of `meta`, drops what falls out of the window, and
/// commits it all in one batch.
async fn commit_version(
    ctx: &EngineContext,
    path: &SecretPath,
    config: &MountConfig,
    mut meta: KeyMetadata,
    data: Map,
    now: OffsetDateTime,
) -> Result<Response, KvError> {
    let deletion_time = meta.deletion_time(config, now);
    let (number, dropped) = meta.add_version(now, deletion_time, config.max_versions);
    let mut ops = Vec::with_capacity(dropped.len() + 2);
    ops.push(store::put_op(
        store::version_key(path, number),
        &StoredVersion { data },
    )?);
    ops.extend(
        dropped
            .into_iter()
            .map(|old| store::delete_op(store::version_key(path, old))),
    );
    ops.push(store::put_op(store::metadata_key(path), &meta)?);
    ctx.storage.apply(ops).await?;
    Ok(Response::with_data(meta.version_view(number)?))
}

fn required_data(body: &Map) -> Result<&Map, KvError> {
    fields::object(body, "data")?.ok_or_else(|| KvError::invalid("no data provided"))
}

/// `options.cas`, when given.
fn cas_option(body: &Map) -> Result<Option<u64>, KvError> {
    let Some(options) = fields::object(body, "options")? else {
        return Ok(None);
    };
    fields::allow_only(options, &["cas"])
        .map_err(|_| KvError::invalid("options may only contain \"cas\""))?;
    fields::uint(options, "cas").map_err(|_| {
        KvError::invalid(
            "error parsing check-and-set parameter: cas must be a non-negative integer",
        )
    })
}

fn check_cas(cas: Option<u64>, config: &MountConfig, meta: &KeyMetadata) -> Result<(), KvError> {
    match cas {
        Some(expected) if expected != meta.current_version => Err(KvError::CasMismatch),
        Some(_) => Ok(()),
        None if config.cas_required || meta.cas_required => Err(KvError::CasRequired),
        None => Ok(()),
    }
}
