//! Enabling, disabling and tuning mounts. The persisted table is the source of truth; the
//! router is rebuilt from live instances after every successful change.

use std::sync::Arc;

use lessor_sdk::{EngineContext, Map, Ttl};
use rand::Rng;

use super::Unsealed;
use crate::error::ApiError;
use crate::lease::MountIntents;
use crate::mount::{
    MountEntry, MountKind, MountTuning, Mounted, MountedBackend, Router, normalize_path,
};
use crate::view::BarrierView;

/// Path prefixes a secrets engine may not take: the broker's own namespaces.
const RESERVED_PREFIXES: &[&str] = &["auth/", "sys/", "identity/", "cubbyhole/"];

/// An operator's request to mount something.
#[derive(Debug, Clone)]
pub struct MountRequest {
    pub kind: MountKind,
    /// Relative to the table: `secret/` for engines, `kubernetes/` (under `auth/`) for methods.
    pub path: String,
    pub engine_type: String,
    pub description: String,
    pub config: MountTuning,
    pub options: Map,
}

impl Unsealed {
    pub(super) async fn read_table(&self, kind: MountKind) -> Result<Vec<MountEntry>, ApiError> {
        match self
            .barrier
            .get(kind.table_key())
            .await
            .map_err(ApiError::internal)?
        {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                ApiError::internal(format!(
                    "mount table {} is corrupt: {error}",
                    kind.table_key()
                ))
            }),
        }
    }

    async fn write_table(&self, kind: MountKind, entries: &[MountEntry]) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(entries).map_err(ApiError::internal)?;
        self.barrier
            .put(kind.table_key(), &bytes)
            .await
            .map_err(ApiError::internal)
    }

    /// Builds the live engine for a persisted entry.
    pub(super) async fn instantiate(&self, entry: MountEntry) -> Result<Arc<Mounted>, ApiError> {
        let mut options = entry.options.clone();
        let backend = match entry.kind {
            MountKind::Secret => MountedBackend::Secret(
                self.catalog
                    .secret_engine(&entry.engine_type, &mut options)
                    .map_err(ApiError::InvalidRequest)?,
            ),
            MountKind::Auth => MountedBackend::Auth(
                self.catalog
                    .auth_method(&entry.engine_type)
                    .map_err(ApiError::InvalidRequest)?,
            ),
        };
        let ctx = EngineContext {
            storage: Arc::new(BarrierView::new(
                Arc::clone(&self.barrier),
                entry.storage_prefix(),
            )),
            clock: Arc::clone(&self.clock),
            leases: Arc::new(MountIntents::new(&self.leases, entry.path.clone())),
            mount_path: entry.path.clone(),
            default_lease_ttl: effective(
                entry.config.default_lease_ttl,
                self.settings.default_lease_ttl,
            ),
            max_lease_ttl: effective(entry.config.max_lease_ttl, self.settings.max_lease_ttl),
            options: options.clone(),
        };
        let routes = match &backend {
            MountedBackend::Secret(engine) => {
                engine.initialize(&ctx).await?;
                engine.routes()
            }
            MountedBackend::Auth(method) => {
                method.initialize(&ctx).await?;
                method.routes()
            }
        };
        Ok(Arc::new(Mounted {
            entry: MountEntry { options, ..entry },
            backend,
            routes,
            ctx,
        }))
    }

    fn publish(&self, mounts: Vec<Arc<Mounted>>) {
        *self.router.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Router::new(mounts));
    }

    /// `sys/mounts/:path` and `sys/auth/:path` POST.
    pub async fn enable_mount(&self, request: MountRequest) -> Result<(), ApiError> {
        let relative = normalize_path(&request.path).map_err(ApiError::InvalidRequest)?;
        if request.kind == MountKind::Secret
            && RESERVED_PREFIXES
                .iter()
                .any(|reserved| relative.starts_with(reserved))
        {
            return Err(ApiError::invalid(format!(
                "cannot mount a secrets engine at {relative}: the {} prefixes are reserved",
                RESERVED_PREFIXES.join(", ")
            )));
        }
        let path = match request.kind {
            MountKind::Secret => relative,
            MountKind::Auth => format!("auth/{relative}"),
        };
        validate_tuning(&request.config, self.settings.max_lease_ttl)?;
        let _changes = self.mount_changes.lock().await;
        let router = self.router();
        if let Some(existing) = router.conflicts(&path) {
            return Err(ApiError::invalid(format!(
                "path is already in use at {existing}"
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let accessor = format!(
            "{}_{:08x}",
            request.engine_type.replace('-', "_"),
            rand::rng().random::<u32>()
        );
        let entry = MountEntry {
            path,
            engine_type: request.engine_type,
            kind: request.kind,
            description: request.description,
            uuid,
            accessor,
            config: request.config,
            options: request.options,
            local: false,
            seal_wrap: false,
        };
        // Build (and so validate) the engine before persisting anything.
        let mounted = self.instantiate(entry).await?;
        let mut table = self.read_table(request.kind).await?;
        table.push(mounted.entry.clone());
        self.write_table(request.kind, &table).await?;
        let mut mounts = router.mounts().to_vec();
        tracing::info!(path = %mounted.entry.path, engine = %mounted.entry.engine_type, "mount enabled");
        mounts.push(mounted);
        self.publish(mounts);
        Ok(())
    }

    /// `sys/mounts/:path` and `sys/auth/:path` DELETE: unroutes the mount, then deletes its
    /// data. Disabling a path that is not mounted succeeds, as in Vault.
    pub async fn disable_mount(&self, kind: MountKind, path: &str) -> Result<(), ApiError> {
        let relative = normalize_path(path).map_err(ApiError::InvalidRequest)?;
        let path = match kind {
            MountKind::Secret => relative,
            MountKind::Auth => format!("auth/{relative}"),
        };
        let _changes = self.mount_changes.lock().await;
        let router = self.router();
        let Some(mounted) = router.find(&path).filter(|m| m.entry.kind == kind).cloned() else {
            return Ok(());
        };
        let table: Vec<MountEntry> = self
            .read_table(kind)
            .await?
            .into_iter()
            .filter(|entry| entry.path != path)
            .collect();
        // Its leases go first: their engine must still be mounted to revoke them, and a
        // mount whose credentials cannot be revoked stays mounted.
        self.leases.revoke_prefix(&path).await.map_err(|error| {
            ApiError::invalid(format!("failed to revoke the mount's leases: {error}"))
        })?;
        // Unroute next so no request writes into the data we are about to delete.
        self.write_table(kind, &table).await?;
        self.publish(
            router
                .mounts()
                .iter()
                .filter(|m| m.entry.path != path)
                .cloned()
                .collect(),
        );
        let deleted = self
            .barrier
            .delete_prefix(&mounted.entry.storage_prefix())
            .await
            .map_err(ApiError::internal)?;
        tracing::info!(path = %path, deleted, "mount disabled");
        Ok(())
    }

    /// `sys/mounts/:path/tune`.
    pub async fn tune_mount(
        &self,
        path: &str,
        tuning: MountTuning,
        description: Option<String>,
    ) -> Result<(), ApiError> {
        let path = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        validate_tuning(&tuning, self.settings.max_lease_ttl)?;
        let _changes = self.mount_changes.lock().await;
        let router = self.router();
        let mounted = router
            .find(&path)
            .cloned()
            .ok_or_else(|| ApiError::invalid(format!("no mount at {path}")))?;
        let kind = mounted.entry.kind;
        let mut table = self.read_table(kind).await?;
        let entry = table
            .iter_mut()
            .find(|entry| entry.path == path)
            .ok_or_else(|| ApiError::internal("mount table and router disagree"))?;
        entry.config = tuning;
        if let Some(description) = description {
            entry.description = description;
        }
        let updated = self.instantiate(entry.clone()).await?;
        self.write_table(kind, &table).await?;
        self.publish(
            router
                .mounts()
                .iter()
                .map(|m| {
                    if m.entry.path == path {
                        Arc::clone(&updated)
                    } else {
                        Arc::clone(m)
                    }
                })
                .collect(),
        );
        Ok(())
    }
}

fn effective(ttl: Ttl, system: std::time::Duration) -> std::time::Duration {
    if ttl.is_zero() { system } else { ttl.0 }
}

fn validate_tuning(tuning: &MountTuning, system_max: std::time::Duration) -> Result<(), ApiError> {
    if tuning.max_lease_ttl.0 > system_max {
        return Err(ApiError::invalid(
            "max_lease_ttl cannot exceed the system max lease TTL",
        ));
    }
    let max = effective(tuning.max_lease_ttl, system_max);
    if tuning.default_lease_ttl.0 > max {
        return Err(ApiError::invalid(
            "default_lease_ttl cannot exceed max_lease_ttl",
        ));
    }
    Ok(())
}
