//! `metadata/<path>`: a key's settings and version history, listing the secret tree, and
//! deleting a key with every version it has.

use std::collections::BTreeMap;

use lessor_sdk::{EngineContext, Map, Request, Response};

use crate::error::KvError;
use crate::fields;
use crate::key_lock::KeyLocks;
use crate::record::KeyMetadata;
use crate::secret_path::{Directory, SecretPath};
use crate::store;

const SETTINGS: &[&str] = &[
    "cas_required",
    "custom_metadata",
    "delete_version_after",
    "max_versions",
];

/// Vault's warning when a key turns off a CAS requirement the mount imposes anyway.
const CAS_IGNORED: &str =
    "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored.";

/// GET `metadata/<path>`.
pub(crate) async fn read(ctx: &EngineContext, request: &Request) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &[])?;
    let path = SecretPath::parse(request.params.get("path"))?;
    let meta = store::load_metadata(ctx.storage.as_ref(), &path)
        .await?
        .ok_or(KvError::NotFound)?;
    Ok(Response::with_data(meta.view()?))
}

/// LIST `metadata/<dir>/`: the keys and subdirectories (suffixed `/`) below `dir`.
pub(crate) async fn list(ctx: &EngineContext, request: &Request) -> Result<Response, KvError> {
    // Some front ends pass `?list=true` through with the query; it carries no meaning here.
    fields::allow_only(&request.data, &["list"])?;
    let directory = Directory::parse(request.params.get("path"))?;
    let keys = store::list(ctx.storage.as_ref(), &directory).await?;
    if keys.is_empty() {
        return Err(KvError::NotFound);
    }
    Ok(Response::list(keys))
}

/// The settings a write or patch carries, parsed before any lock is taken.
#[derive(Debug, Default)]
struct Settings {
    max_versions: Option<u32>,
    cas_required: Option<bool>,
    delete_version_after: Option<u64>,
    /// The values given, and the keys given as `null`.
    custom_metadata: Option<(BTreeMap<String, String>, Vec<String>)>,
}

impl Settings {
    fn parse(body: &Map) -> Result<Self, KvError> {
        fields::allow_only(body, SETTINGS)?;
        let custom_metadata = match fields::object(body, "custom_metadata")? {
            Some(raw) => Some(fields::custom_metadata(raw)?),
            None => None,
        };
        Ok(Self {
            max_versions: fields::uint32(body, "max_versions")?,
            cas_required: fields::boolean(body, "cas_required")?,
            delete_version_after: fields::duration(body, "delete_version_after")?,
            custom_metadata,
        })
    }

    fn is_empty(&self) -> bool {
        self.max_versions.is_none()
            && self.cas_required.is_none()
            && self.delete_version_after.is_none()
            && self.custom_metadata.is_none()
    }

    fn apply_scalars(&self, meta: &mut KeyMetadata) {
        if let Some(max_versions) = self.max_versions {
            meta.max_versions = max_versions;
        }
        if let Some(cas_required) = self.cas_required {
            meta.cas_required = cas_required;
        }
        if let Some(after) = self.delete_version_after {
            meta.delete_version_after = after;
        }
    }
}

/// POST `metadata/<path>`: creates or updates a key's settings (creating a key with no
/// versions when it does not exist). `custom_metadata` is replaced as a whole.
pub(crate) async fn write(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    let path = SecretPath::parse(request.params.get("path"))?;
    let mut settings = Settings::parse(&request.data)?;
    let custom_metadata = match settings.custom_metadata.take() {
        Some((_, nulls)) if !nulls.is_empty() => {
            return Err(KvError::invalid(
                "custom_metadata values must be strings (null is only meaningful in a patch)",
            ));
        }
        Some((values, _)) => Some(values),
        None => None,
    };
    // Vault writes nothing for an empty body, not even an empty key.
    if settings.is_empty() && custom_metadata.is_none() {
        return Ok(Response::no_content());
    }

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let config = store::load_config(storage).await?;
    let mut meta = store::load_metadata(storage, &path)
        .await?
        .unwrap_or_else(|| KeyMetadata::new(ctx.clock.now()));
    settings.apply_scalars(&mut meta);
    if let Some(values) = custom_metadata {
        meta.custom_metadata = values;
    }
    storage
        .apply(vec![store::put_op(store::metadata_key(&path), &meta)?])
        .await?;
    Ok(cas_warning(&settings, config.cas_required))
}

/// PATCH `metadata/<path>`: changes only the settings given; `custom_metadata` is
/// merge-patched (a `null` value removes that key). The key must exist.
pub(crate) async fn patch(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    let path = SecretPath::parse(request.params.get("path"))?;
    let mut settings = Settings::parse(&request.data)?;
    let custom_metadata = settings.custom_metadata.take();

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let config = store::load_config(storage).await?;
    let mut meta = store::load_metadata(storage, &path)
        .await?
        .ok_or(KvError::NotFound)?;
    settings.apply_scalars(&mut meta);
    if let Some((values, removed)) = custom_metadata {
        for key in removed {
            meta.custom_metadata.remove(&key);
        }
        meta.custom_metadata.extend(values);
    }
    storage
        .apply(vec![store::put_op(store::metadata_key(&path), &meta)?])
        .await?;
    Ok(cas_warning(&settings, config.cas_required))
}

/// DELETE `metadata/<path>`: removes the key's metadata and the data of every version, in one
/// batch. A key that does not exist is a no-op.
pub(crate) async fn delete(
    locks: &KeyLocks,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KvError> {
    fields::allow_only(&request.data, &[])?;
    let path = SecretPath::parse(request.params.get("path"))?;

    let _guard = locks.lock(&ctx.mount_path, path.as_str()).await;
    let storage = ctx.storage.as_ref();
    let Some(meta) = store::load_metadata(storage, &path).await? else {
        return Ok(Response::no_content());
    };
    let mut ops: Vec<_> = meta
        .versions
        .keys()
        .map(|number| store::delete_op(store::version_key(&path, *number)))
        .collect();
    ops.push(store::delete_op(store::metadata_key(&path)));
    storage.apply(ops).await?;
    Ok(Response::no_content())
}

fn cas_warning(settings: &Settings, mount_requires_cas: bool) -> Response {
    let response = Response::no_content();
    if settings.cas_required == Some(false) && mount_requires_cas {
        response.warn(CAS_IGNORED)
    } else {
        response
    }
}
