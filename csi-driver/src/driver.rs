//! The driver's volumes: a registry of [`Volume`]s by id, each with its own renewal timer
//! task, plus publish, unpublish and restart recovery. The gRPC services (`node`,
//! `provider`) translate requests into these calls and errors into gRPC codes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Mutex, Notify};
use tokio::task::AbortHandle;

use crate::attributes::{PodInfo, PodToken, VolumeSpec};
use crate::files::{self, Backing, FileContent, FilesError};
use crate::metrics;
use crate::state::{StateError, StateStore, VolumeRecord};
use crate::volume::{Context, Sink, Volume, VolumeError};

/// How long the timer waits after a failed refresh, doubling up to the maximum.
const RETRY_MIN: std::time::Duration = std::time::Duration::from_secs(2);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(60);
/// A volume with nothing leased still wakes up this often (e.g. to notice a provider-mode
/// pod that went away).
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("a file system task of the driver failed")]
    Join,
}

/// What publishing one volume needs.
#[derive(Debug)]
pub struct Publish {
    pub volume_id: String,
    pub target_path: PathBuf,
    pub spec: VolumeSpec,
    pub pod: PodInfo,
    pub pod_token: Option<PodToken>,
}

#[derive(Debug, Clone)]
struct Entry {
    volume: Arc<Mutex<Volume>>,
    wake: Arc<Notify>,
    task: AbortHandle,
    provider: bool,
}

#[derive(Debug)]
pub struct Driver {
    ctx: Context,
    store: StateStore,
    default_address: String,
    allow_plain_directory: bool,
    volumes: std::sync::Mutex<HashMap<String, Entry>>,
    /// Serialises creating volumes, so two publishes of one new volume cannot both mint.
    creating: Mutex<()>,
}

impl Driver {
    pub fn new(
        ctx: Context,
        store: StateStore,
        default_address: String,
        allow_plain_directory: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            store,
            default_address,
            allow_plain_directory,
            volumes: std::sync::Mutex::new(HashMap::new()),
            creating: Mutex::new(()),
        })
    }

    /// The registry; held only for a lookup or an update, never across an await.
    fn volumes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.volumes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entry(&self, id: &str) -> Option<Entry> {
        self.volumes().get(id).cloned()
    }

    fn forget(&self, id: &str) {
        self.volumes().remove(id);
    }

    /// A new volume's record, before its first refresh.
    fn new_record(&self, request: &Publish, backing: Backing) -> VolumeRecord {
        VolumeRecord {
            volume_id: request.volume_id.clone(),
            target_path: request.target_path.clone(),
            address: request
                .spec
                .address
                .clone()
                .unwrap_or_else(|| self.default_address.clone()),
            spec: request.spec.clone(),
            pod: request.pod.clone(),
            backing,
            token: None,
            leases: Default::default(),
            next_renewal: None,
            generation: 0,
        }
    }

    /// Picks up the volumes a previous process published: their timers resume at once
    /// (overdue renewals run first), and a later unpublish still revokes.
    pub fn restore(self: &Arc<Self>) -> Result<usize, DriverError> {
        let mut restored = 0;
        for record in self.store.load_all()? {
            if !record.target_path.exists() {
                tracing::warn!(volume = %record.volume_id, "target of a recorded volume is gone; forgetting it");
                self.store.remove(&record.volume_id)?;
                continue;
            }
            let id = record.volume_id.clone();
            let volume = Volume::restore(record);
            if !volume.has_token() {
                tracing::warn!(volume = %id, "the volume's token is not on its target; renewal waits for kubelet's next republish");
            }
            self.start(id, volume, false);
            restored += 1;
        }
        Ok(restored)
    }

    fn start(self: &Arc<Self>, id: String, volume: Volume, provider: bool) -> Arc<Mutex<Volume>> {
        let volume = Arc::new(Mutex::new(volume));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(Arc::clone(self).keep(
            id.clone(),
            Arc::clone(&volume),
            Arc::clone(&wake),
            provider,
        ))
        .abort_handle();
        self.volumes().insert(
            id,
            Entry {
                volume: Arc::clone(&volume),
                wake,
                task,
                provider,
            },
        );
        volume
    }

    /// The volume's own timer: refresh when something is due, so rotation never waits for
    /// kubelet's republish cadence.
    async fn keep(
        self: Arc<Self>,
        id: String,
        volume: Arc<Mutex<Volume>>,
        wake: Arc<Notify>,
        provider: bool,
    ) {
        let mut retry = RETRY_MIN;
        let mut failed = false;
        loop {
            let wait = if failed {
                retry
            } else {
                let due = volume.lock().await.next_due();
                due.map_or(IDLE, |due| {
                    let left = due - self.ctx.clock.now();
                    std::time::Duration::try_from(left)
                        .unwrap_or_default()
                        .min(IDLE)
                })
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => { failed = false; continue; }
            }
            let mut guard = volume.lock().await;
            if provider && !guard.target().exists() {
                // The Secrets Store CSI Driver never says a pod is gone; its target going away does.
                tracing::info!(volume = %id, "provider-mode pod is gone; revoking");
                if guard.revoke(&self.ctx).await.is_ok() {
                    drop(guard);
                    self.forget(&id);
                    return;
                }
                failed = true;
                continue;
            }
            let due = guard
                .next_due()
                .is_some_and(|due| due <= self.ctx.clock.now());
            if !due && !failed {
                continue;
            }
            match guard.refresh(&self.ctx).await {
                Ok(()) => {
                    failed = false;
                    retry = RETRY_MIN;
                }
                Err(error) => {
                    metrics::failure("refresh");
                    tracing::warn!(volume = %id, %error, retry_in = ?retry, "refreshing the volume failed");
                    failed = true;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
            if !provider && let Err(error) = self.store.save(&guard.record) {
                tracing::error!(volume = %id, %error, "saving volume state failed");
            }
        }
    }

    /// `NodePublishVolume`: idempotent; a known volume is only refreshed (which does nothing
    /// unless its token or a lease is due).
    pub async fn publish(self: &Arc<Self>, mut request: Publish) -> Result<(), DriverError> {
        let creating = self.creating.lock().await;
        if let Some(entry) = self.entry(&request.volume_id) {
            drop(creating);
            let mut volume = entry.volume.lock().await;
            if volume.record.target_path != request.target_path
                || volume.record.spec != request.spec
            {
                return Err(DriverError::AlreadyExists(format!(
                    "volume {:?} is already published with another target path or other attributes",
                    request.volume_id
                )));
            }
            volume.offer_pod_token(request.pod_token);
            let result = volume.refresh(&self.ctx).await;
            self.store.save(&volume.record)?;
            entry.wake.notify_one();
            result?;
            metrics::publish();
            return Ok(());
        }
        let Some(pod_token) = request.pod_token.take() else {
            return Err(DriverError::InvalidArgument(format!(
                "volume_context has no {} with a token for audience {:?}",
                crate::attributes::SERVICE_ACCOUNT_TOKENS,
                request.spec.audience
            )));
        };
        let target = request.target_path.clone();
        let allow_plain = self.allow_plain_directory;
        let backing =
            tokio::task::spawn_blocking(move || files::prepare_target(&target, allow_plain))
                .await
                .map_err(|_| DriverError::Join)??;
        tracing::info!(volume = %request.volume_id, target = %request.target_path.display(), ?backing, pod = %request.pod.name, namespace = %request.pod.namespace, "publishing");
        let mut volume = Volume::new(self.new_record(&request, backing), Sink::Target);
        volume.offer_pod_token(Some(pod_token));
        let result = match volume.refresh(&self.ctx).await {
            Ok(()) => self.store.save(&volume.record).map_err(DriverError::from),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = result {
            metrics::failure("publish");
            let _ = volume.revoke(&self.ctx).await;
            let target = request.target_path.clone();
            let _ = tokio::task::spawn_blocking(move || files::remove_target(&target)).await;
            let _ = self.store.remove(&request.volume_id);
            return Err(error);
        }
        self.start(request.volume_id, volume, false);
        drop(creating);
        metrics::publish();
        Ok(())
    }

    /// `NodeUnpublishVolume`: revoke, unmount, remove. Unknown volumes succeed (the target
    /// is still removed if it exists), so a repeated call is harmless.
    pub async fn unpublish(
        &self,
        volume_id: &str,
        target_path: PathBuf,
    ) -> Result<(), DriverError> {
        if let Some(entry) = self.entry(volume_id) {
            let mut volume = entry.volume.lock().await;
            // A broker outage fails the call and keeps everything, so kubelet's retry revokes.
            volume.revoke(&self.ctx).await?;
            entry.task.abort();
            let recorded = volume.record.target_path.clone();
            drop(volume);
            tokio::task::spawn_blocking(move || files::remove_target(&recorded))
                .await
                .map_err(|_| DriverError::Join)??;
            self.store.remove(volume_id)?;
            self.forget(volume_id);
            tracing::info!(volume = %volume_id, "unpublished");
        }
        tokio::task::spawn_blocking(move || files::remove_target(&target_path))
            .await
            .map_err(|_| DriverError::Join)??;
        metrics::unpublish();
        Ok(())
    }

    /// Provider mode: the same lease keeping, keyed by pod uid and kept in memory; returns
    /// the files and each object's version.
    pub async fn provider_mount(
        self: &Arc<Self>,
        request: Publish,
    ) -> Result<(Vec<(String, FileContent)>, Vec<(String, u64)>), DriverError> {
        let id = request.volume_id.clone();
        let creating = self.creating.lock().await;
        let volume = match self.entry(&id) {
            Some(entry) if entry.provider => {
                drop(creating);
                entry.volume
            }
            _ => {
                let record = self.new_record(&request, Backing::Provider);
                let volume = self.start(
                    id.clone(),
                    Volume::new(record, Sink::Memory(Default::default())),
                    true,
                );
                drop(creating);
                volume
            }
        };
        let mut volume = volume.lock().await;
        if volume.record.spec != request.spec {
            // The SecretProviderClass changed: start over with the new spec.
            volume.revoke(&self.ctx).await?;
            volume.record.spec = request.spec;
            volume.sink = Sink::Memory(Default::default());
        }
        volume.record.target_path = request.target_path;
        volume.offer_pod_token(request.pod_token);
        volume.refresh(&self.ctx).await?;
        if let Some(entry) = self.entry(&id) {
            entry.wake.notify_one();
        }
        let Sink::Memory(files) = &volume.sink else {
            return Ok((Vec::new(), Vec::new()));
        };
        let files = files
            .iter()
            .map(|(name, content)| (name.clone(), content.clone()))
            .collect();
        let versions = volume
            .record
            .leases
            .iter()
            .map(|(path, lease)| (path.clone(), lease.version))
            .collect();
        metrics::provider_mount();
        Ok((files, versions))
    }
}
