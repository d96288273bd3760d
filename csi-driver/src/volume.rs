//! One volume's lease keeping: the broker token it holds, the leases behind its files, and
//! the one operation that brings them up to date, [`Volume::refresh`], run by publish,
//! republish, the driver's own timer and provider-mode mounts alike.
//!
//! The rules, in order:
//! - **One token per volume.** Log in with the pod's service-account token only when the
//!   volume has none, or its token cannot be renewed any more (max TTL near, or renewal
//!   refused). Otherwise renew it (`renew-self`) past 2/3 of its TTL.
//! - **Renew before re-minting.** A lease past 2/3 of its duration is renewed for its
//!   original TTL. A new credential is minted only when renewal fails or the lease is within
//!   a third of its TTL of a max-TTL cap it can no longer be renewed past.
//! - **Files change atomically** (see `files`): every fetch lands in a new generation that
//!   carries the unchanged files over, so the pod sees one consistent set.
//! - **A replaced token is revoked** once the new files are in place; its leases go with it.
//!   A superseded lease under the same token is not revoked on the spot (the app may still
//!   hold a connection made with it): it is within a third of its TTL of its end anyway, and
//!   unpublish revokes the token, which takes every lease it obtained with it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lessor_sdk::Clock;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::attributes::{ObjectSpec, PodToken};
use crate::broker::{BrokerClient, BrokerError, Renewal, Secret};
use crate::files::{self, FileContent, FilesError};
use crate::metrics;
use crate::state::{LeaseRecord, Term, TokenRecord, VolumeRecord};

/// What every volume operation needs from the driver.
#[derive(Debug, Clone)]
pub struct Context {
    pub broker: BrokerClient,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{operation}: {source}")]
    Broker {
        operation: &'static str,
        source: BrokerError,
    },
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(
        "the volume needs a broker login but kubelet passed no valid service-account token for audience {0:?}"
    )]
    NoPodToken(String),
    #[error("the service-account token belongs to pod {token_pod:?}, not to {pod:?}")]
    WrongPod { token_pod: String, pod: String },
    #[error("{path} has no key {key:?}")]
    MissingKey { path: String, key: String },
}

fn broker(operation: &'static str) -> impl FnOnce(BrokerError) -> VolumeError {
    move |source| VolumeError::Broker { operation, source }
}

/// Where a volume's files go.
#[derive(Debug)]
pub enum Sink {
    /// Written under the record's target path (Node service).
    Target,
    /// Kept in memory and handed to the Secrets Store CSI Driver, which writes them
    /// (provider mode).
    Memory(BTreeMap<String, FileContent>),
}

pub struct Volume {
    pub record: VolumeRecord,
    token: Option<SecretString>,
    pod_token: Option<PodToken>,
    pub sink: Sink,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("record", &self.record)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

fn seconds(value: u64) -> Duration {
    Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Term {
    /// Just granted for `ttl` seconds.
    fn granted(ttl: u64, renewable: bool, now: OffsetDateTime) -> Self {
        Self {
            ttl,
            renewable,
            capped: false,
            renewed_at: now,
            expires_at: now + seconds(ttl),
        }
    }

    /// When it needs attention next: at 2/3 of the current grant, or, once capped, a third
    /// of a TTL before its end (time to replace it).
    fn due_at(&self) -> OffsetDateTime {
        if self.capped {
            self.expires_at - seconds(self.ttl / 3)
        } else {
            self.renewed_at + (self.expires_at - self.renewed_at) * 2 / 3
        }
    }

    /// Whether it can be renewed at all (not near its max TTL, and renewable).
    fn can_renew(&self) -> bool {
        !self.capped && self.renewable
    }

    /// Records a renewal; a grant shorter than the TTL asked for means a max TTL is near.
    fn renewed(&mut self, renewal: Renewal, now: OffsetDateTime) {
        self.renewed_at = now;
        self.expires_at = now + seconds(renewal.lease_duration);
        self.renewable = renewal.renewable;
        self.capped = renewal.lease_duration + 1 < self.ttl;
    }
}

impl LeaseRecord {
    /// Static secrets (no lease) are never due.
    fn due_at(&self) -> Option<OffsetDateTime> {
        (!self.lease_id.is_empty()).then(|| self.term.due_at())
    }
}

impl Volume {
    pub fn new(record: VolumeRecord, sink: Sink) -> Self {
        Self {
            record,
            token: None,
            pod_token: None,
            sink,
        }
    }

    /// A volume from its state record after a driver restart; the token is read back from
    /// the target's tmpfs.
    pub fn restore(record: VolumeRecord) -> Self {
        let token = files::load_token(&record.target_path)
            .map(|token| SecretString::from(token.as_str().to_owned()));
        Self {
            record,
            token,
            pod_token: None,
            sink: Sink::Target,
        }
    }

    /// Kubelet's latest service-account token; kept (in memory only) so the timer can log
    /// in again without waiting for a republish.
    pub fn offer_pod_token(&mut self, token: Option<PodToken>) {
        if token.is_some() {
            self.pod_token = token;
        }
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The earliest time the token or a lease needs attention.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        let token = self.record.token.as_ref().map(|token| token.term.due_at());
        let leases = self.record.leases.values().filter_map(LeaseRecord::due_at);
        token.into_iter().chain(leases).min()
    }

    /// Brings token, leases and files up to date (see the module doc).
    pub async fn refresh(&mut self, ctx: &Context) -> Result<(), VolumeError> {
        let now = ctx.clock.now();
        let address = self.record.address.clone();
        let old_token = if self.token_needs_login(ctx, now).await? {
            self.login(ctx, now).await?
        } else {
            None
        };

        let current = self.current_files()?;
        let mut fetch = Vec::new();
        for object in self.record.spec.objects.clone() {
            let files_present = object.files.iter().all(|f| current.contains_key(&f.name));
            let lease = self.record.leases.get(&object.path);
            let needed = match lease {
                _ if old_token.is_some() || !files_present => true,
                None => true,
                Some(lease) => match lease.due_at() {
                    Some(due) if due <= now => !self.renew_lease(ctx, &object, now).await,
                    _ => false,
                },
            };
            if needed {
                fetch.push(object);
            }
        }

        if !fetch.is_empty() {
            self.fetch_and_write(ctx, &fetch, current, now).await?;
        }
        if let Some(old) = old_token {
            // The new files are in place; the old token's leases may go.
            if let Err(error) = ctx.broker.revoke_token(&address, &old).await {
                metrics::failure("revoke_old_token");
                tracing::warn!(volume = %self.record.volume_id, %error, "revoking the replaced token failed; it expires on its own");
            } else {
                metrics::revocation("token");
            }
        }
        self.record.next_renewal = self.next_due();
        Ok(())
    }

    /// Renews the token if due. True when a fresh login is needed instead.
    async fn token_needs_login(
        &mut self,
        ctx: &Context,
        now: OffsetDateTime,
    ) -> Result<bool, VolumeError> {
        let (Some(record), Some(token)) = (self.record.token.as_mut(), self.token.as_ref()) else {
            return Ok(true);
        };
        let term = &mut record.term;
        if term.due_at() > now {
            return Ok(false);
        }
        if !term.can_renew() {
            return Ok(true);
        }
        match ctx.broker.renew_token(&self.record.address, token).await {
            Ok(renewal) => {
                metrics::renewal("token");
                term.renewed(renewal, now);
                Ok(term.capped && term.due_at() <= now)
            }
            Err(error) if error.is_refusal() => {
                metrics::failure("renew_token");
                tracing::warn!(volume = %self.record.volume_id, %error, "token renewal refused; logging in again");
                Ok(true)
            }
            Err(error) => {
                metrics::failure("renew_token");
                Err(broker("renewing the volume's token")(error))
            }
        }
    }

    /// Logs in with the pod's token; returns the replaced token (if any), to revoke once the
    /// new files are written.
    async fn login(
        &mut self,
        ctx: &Context,
        now: OffsetDateTime,
    ) -> Result<Option<SecretString>, VolumeError> {
        let spec = &self.record.spec;
        let jwt = self
            .pod_token
            .as_ref()
            .filter(|token| {
                token
                    .expires_at
                    .is_none_or(|at| at > now + Duration::seconds(5))
            })
            .ok_or_else(|| VolumeError::NoPodToken(spec.audience.clone()))?;
        let login = ctx
            .broker
            .login(&self.record.address, &spec.auth_mount, &spec.role, &jwt.jwt)
            .await
            .inspect_err(|_| metrics::failure("login"))
            .map_err(broker("logging in with the pod's service-account token"))?;
        metrics::login();
        let kept = self
            .check_pod(&login.metadata)
            .and_then(|()| match self.sink {
                Sink::Target => {
                    files::store_token(&self.record.target_path, login.token.expose_secret())
                        .map_err(VolumeError::from)
                }
                Sink::Memory(_) => Ok(()),
            });
        if let Err(error) = kept {
            // A token the volume cannot keep must not outlive this failure.
            let _ = ctx
                .broker
                .revoke_token(&self.record.address, &login.token)
                .await;
            return Err(error);
        }
        tracing::info!(volume = %self.record.volume_id, accessor = %login.accessor, ttl = login.lease_duration, "logged in");
        self.record.token = Some(TokenRecord {
            accessor: login.accessor,
            term: Term::granted(login.lease_duration, login.renewable, now),
        });
        Ok(self.token.replace(login.token))
    }

    /// The broker says which pod the service-account token is bound to; it must be the
    /// pod kubelet says the volume is for.
    fn check_pod(&self, metadata: &serde_json::Map<String, Value>) -> Result<(), VolumeError> {
        let pod = &self.record.pod;
        let field = |name: &str| {
            metadata
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let mismatch = |claimed: &str, expected: &str| {
            !claimed.is_empty() && !expected.is_empty() && claimed != expected
        };
        if mismatch(field("pod_name"), &pod.name)
            || mismatch(field("pod_uid"), &pod.uid)
            || mismatch(field("service_account_namespace"), &pod.namespace)
        {
            return Err(VolumeError::WrongPod {
                token_pod: format!(
                    "{}/{}",
                    field("service_account_namespace"),
                    field("pod_name")
                ),
                pod: format!("{}/{}", pod.namespace, pod.name),
            });
        }
        Ok(())
    }

    /// Renews one due lease. False when it must be minted anew instead.
    async fn renew_lease(
        &mut self,
        ctx: &Context,
        object: &ObjectSpec,
        now: OffsetDateTime,
    ) -> bool {
        let (Some(lease), Some(token)) = (
            self.record.leases.get_mut(&object.path),
            self.token.as_ref(),
        ) else {
            return false;
        };
        if !lease.term.can_renew() {
            return false;
        }
        match ctx
            .broker
            .renew_lease(&self.record.address, token, &lease.lease_id, lease.term.ttl)
            .await
        {
            Ok(renewal) => {
                metrics::renewal("lease");
                lease.term.renewed(renewal, now);
                tracing::debug!(volume = %self.record.volume_id, lease = %lease.lease_id, ttl = renewal.lease_duration, capped = lease.term.capped, "lease renewed");
                lease.due_at().is_none_or(|due| due > now)
            }
            Err(error) => {
                metrics::failure("renew_lease");
                tracing::warn!(volume = %self.record.volume_id, lease = %lease.lease_id, %error, "lease renewal failed; minting a new credential");
                false
            }
        }
    }

    fn current_files(&self) -> Result<BTreeMap<String, FileContent>, VolumeError> {
        Ok(match &self.sink {
            Sink::Target => files::read_current(&self.record.target_path)?,
            Sink::Memory(files) => files.clone(),
        })
    }

    async fn fetch_and_write(
        &mut self,
        ctx: &Context,
        objects: &[ObjectSpec],
        mut files: BTreeMap<String, FileContent>,
        now: OffsetDateTime,
    ) -> Result<(), VolumeError> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| VolumeError::NoPodToken(self.record.spec.audience.clone()))?;
        let mut fetched: Vec<(&ObjectSpec, Secret)> = Vec::new();
        let result = async {
            for object in objects {
                let secret = ctx
                    .broker
                    .read(&self.record.address, &token, &object.path)
                    .await
                    .inspect_err(|_| metrics::failure("read"))
                    .map_err(broker("reading a secret"))?;
                let rendered = render(object, &secret.data);
                fetched.push((object, secret));
                files.extend(rendered?);
            }
            // Only the files the spec names, whatever was there before.
            let names: Vec<String> = self.record.spec.file_names().map(str::to_owned).collect();
            files.retain(|name, _| names.contains(name));
            self.record.generation += 1;
            match &mut self.sink {
                Sink::Target => {
                    let stamp = generation_stamp(now, self.record.generation);
                    files::write_generation(&self.record.target_path, &files, &stamp)?;
                }
                Sink::Memory(memory) => *memory = files,
            }
            Ok::<(), VolumeError>(())
        }
        .await;
        if let Err(error) = result {
            // Whatever was minted and not delivered must not outlive this failure.
            for (_, secret) in &fetched {
                if !secret.lease_id.is_empty() {
                    let _ = ctx
                        .broker
                        .revoke_lease(&self.record.address, &token, &secret.lease_id)
                        .await;
                }
            }
            return Err(error);
        }
        for (object, secret) in fetched {
            let previous = self.record.leases.get(&object.path);
            if previous.is_some() {
                metrics::remint();
            }
            let version = previous.map_or(1, |lease| lease.version + 1);
            tracing::info!(volume = %self.record.volume_id, path = %object.path, lease = %secret.lease_id, ttl = secret.lease_duration, version, "fetched");
            let leased = !secret.lease_id.is_empty() && secret.lease_duration > 0;
            self.record.leases.insert(
                object.path.clone(),
                LeaseRecord {
                    lease_id: if leased {
                        secret.lease_id
                    } else {
                        String::new()
                    },
                    term: Term::granted(secret.lease_duration, secret.renewable, now),
                    issued_at: now,
                    version,
                },
            );
        }
        self.record
            .leases
            .retain(|path, _| self.record.spec.objects.iter().any(|o| &o.path == path));
        Ok(())
    }

    /// Revokes the volume's token, which revokes every lease it obtained. A volume that
    /// never logged in, or whose token is already gone, has nothing to revoke.
    pub async fn revoke(&mut self, ctx: &Context) -> Result<(), VolumeError> {
        if let Some(token) = &self.token {
            ctx.broker
                .revoke_token(&self.record.address, token)
                .await
                .inspect_err(|_| metrics::failure("revoke"))
                .map_err(broker("revoking the volume's token and leases"))?;
            metrics::revocation("volume");
            tracing::info!(volume = %self.record.volume_id, leases = self.record.leases.len(), "revoked the volume's token and leases");
        } else if self.record.token.is_some() {
            tracing::warn!(volume = %self.record.volume_id, "the volume's token is lost (target gone); its leases expire on their own");
        }
        self.token = None;
        self.record.token = None;
        self.record.leases.clear();
        Ok(())
    }

    pub fn target(&self) -> &Path {
        &self.record.target_path
    }
}

/// Like kubelet's `..2006_01_02_15_04_05.000000000`, plus the generation so two writes in
/// one nanosecond cannot collide.
fn generation_stamp(now: OffsetDateTime, generation: u64) -> String {
    format!(
        "{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{:09}_{generation}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.nanosecond()
    )
}

/// A KV version 2 read answers `{data: {...}, metadata: {...}}`; files are about the inner
/// data, as with Vault's CSI provider.
fn payload(data: &Value) -> &Value {
    match data.as_object() {
        Some(map)
            if map.len() == 2
                && map.get("data").is_some_and(Value::is_object)
                && map.contains_key("metadata") =>
        {
            &map["data"]
        }
        _ => data,
    }
}

/// The files one object produces from its read.
fn render(object: &ObjectSpec, data: &Value) -> Result<Vec<(String, FileContent)>, VolumeError> {
    let payload = payload(data);
    object
        .files
        .iter()
        .map(|file| {
            let bytes = match &file.key {
                None => serde_json::to_vec(payload).unwrap_or_default(),
                Some(key) => match payload.get(key) {
                    Some(Value::String(text)) => text.as_bytes().to_vec(),
                    Some(other) => serde_json::to_vec(other).unwrap_or_default(),
                    None => {
                        return Err(VolumeError::MissingKey {
                            path: object.path.clone(),
                            key: key.clone(),
                        });
                    }
                },
            };
            Ok((
                file.name.clone(),
                FileContent {
                    bytes: Zeroizing::new(bytes),
                    mode: file.mode(),
                },
            ))
        })
        .collect()
}
