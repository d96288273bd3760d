//! Audit devices in the broker: the device table (persisted in the barrier at `core/audit`),
//! one salt per device (`audit/<uuid>/salt`, 32 random bytes, only ever in the barrier and in
//! memory), the fan-out of every line to every device, and the fail-closed policy.
//!
//! Architecture invariant: with at least one device enabled, no request reaches a backend
//! unless its request line was recorded by at least one device, and no response leaves the
//! core unless its response line was. When every device fails, the request fails with 500
//! and `sys/health` reports `audit_failure` until a device works again (a failed file is
//! reopened on the next line, or when health probes it, or on SIGHUP).
//!
//! The entry format, redaction and hash chain live in the `lessor-audit` crate; the
//! per-request trail that `core::dispatch` drives is in [`trail`].

mod trail;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use lessor_audit::{Device, Entry, Hasher, Redaction, Sink};
use lessor_barrier::UnsealedBarrier;
use lessor_sdk::Clock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub(crate) use trail::RequestAudit;

use crate::core::Core;
use crate::error::ApiError;

/// Barrier key of the device table.
const TABLE_KEY: &str = "core/audit";
const SALT_LEN: usize = 32;
/// Vault's default file mode for audit logs.
const DEFAULT_MODE: u32 = 0o600;

fn salt_key(uuid: &str) -> String {
    format!("audit/{uuid}/salt")
}

/// Device types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    File,
    Stdout,
}

/// One row of the persisted device table. The salt is not in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// `file/`, with the trailing slash, as Vault lists it.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: DeviceType,
    pub description: String,
    pub options: DeviceOptions,
    pub uuid: String,
}

/// The options a device was enabled with, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceOptions {
    /// `file` only. `stdout` writes to standard output, as in Vault.
    pub file_path: Option<PathBuf>,
    pub mode: u32,
    pub log_raw: bool,
    pub hmac_accessor: bool,
}

impl DeviceOptions {
    /// Parses Vault's string-valued options (booleans and numbers are accepted too). Unknown
    /// options are refused: a typo must not silently produce a device that hashes less.
    pub fn parse(kind: DeviceType, options: &lessor_sdk::Map) -> Result<Self, ApiError> {
        let mut parsed = DeviceOptions {
            file_path: None,
            mode: DEFAULT_MODE,
            log_raw: false,
            hmac_accessor: true,
        };
        for (key, value) in options {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                serde_json::Value::Number(number) => number.to_string(),
                _ => return Err(ApiError::invalid(format!("option {key} must be a string"))),
            };
            match key.as_str() {
                "file_path" | "path" if kind == DeviceType::File => {
                    parsed.file_path = Some(PathBuf::from(text));
                }
                "mode" if kind == DeviceType::File => {
                    parsed.mode = u32::from_str_radix(&text, 8)
                        .ok()
                        .filter(|mode| *mode <= 0o777)
                        .ok_or_else(|| {
                            ApiError::invalid(format!("mode {text:?} is not an octal file mode"))
                        })?;
                }
                "log_raw" => parsed.log_raw = parse_bool(key, &text)?,
                "hmac_accessor" => parsed.hmac_accessor = parse_bool(key, &text)?,
                "format" if text == "json" => {}
                "format" => return Err(ApiError::invalid("only format \"json\" is supported")),
                other => {
                    return Err(ApiError::invalid(format!(
                        "unknown option {other:?} for an audit device of this type"
                    )));
                }
            }
        }
        if kind == DeviceType::File {
            match &parsed.file_path {
                None => return Err(ApiError::invalid("file_path is required")),
                Some(path) if path.as_os_str() != "stdout" && !path.is_absolute() => {
                    return Err(ApiError::invalid("file_path must be an absolute path"));
                }
                Some(_) => {}
            }
        }
        Ok(parsed)
    }

    /// The options as `sys/audit` lists them (Vault's string form).
    pub fn to_map(&self) -> BTreeMap<&'static str, String> {
        let mut map = BTreeMap::new();
        if let Some(path) = &self.file_path {
            map.insert("file_path", path.display().to_string());
            map.insert("mode", format!("{:04o}", self.mode));
        }
        map.insert("log_raw", self.log_raw.to_string());
        map.insert("hmac_accessor", self.hmac_accessor.to_string());
        map.insert("format", "json".into());
        map
    }
}

fn parse_bool(key: &str, text: &str) -> Result<bool, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("option {key} must be true or false")))
}

/// A live device and its table row.
#[derive(Debug)]
pub(crate) struct Enabled {
    pub entry: DeviceEntry,
    pub device: Device,
    /// Whether the last line this device tried failed; logged on change, not on every line.
    failing: AtomicBool,
}

/// The set of devices, as a request sees it. Swapped whole on enable/disable, so a request
/// writes its request and response lines to the same devices.
pub(crate) type Devices = Arc<[Arc<Enabled>]>;

/// The broker's audit devices. Lives in `core::Unsealed`: sealing drops the salts.
#[derive(Debug)]
pub struct Auditor {
    barrier: Arc<UnsealedBarrier>,
    clock: Arc<dyn Clock>,
    /// Held only to clone or swap the pointer, never across an await.
    devices: RwLock<Devices>,
    /// Serialises table changes (read-modify-write of `core/audit`).
    changes: tokio::sync::Mutex<()>,
    /// Set when the last line could be recorded by no device: requests are being refused.
    blocked: AtomicBool,
}

impl Auditor {
    /// Loads the table and salts. A device whose sink cannot be opened now is loaded anyway
    /// (failing closed on the first request): refusing to unseal would leave no way to fix it.
    pub(crate) async fn load(
        barrier: Arc<UnsealedBarrier>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ApiError> {
        let auditor = Self {
            barrier,
            clock,
            devices: RwLock::new(Arc::from(Vec::new())),
            changes: tokio::sync::Mutex::new(()),
            blocked: AtomicBool::new(false),
        };
        let mut devices = Vec::new();
        for entry in auditor.read_table().await? {
            let salt = auditor.read_salt(&entry.uuid).await?;
            let enabled = build(entry, &salt)?;
            if let Err(error) = enabled.device.reopen() {
                enabled.failing.store(true, Ordering::Relaxed);
                tracing::error!(device = %enabled.entry.path, %error, "audit device cannot be opened");
            }
            devices.push(Arc::new(enabled));
        }
        auditor.publish(devices);
        Ok(auditor)
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn devices(&self) -> Devices {
        Arc::clone(&self.devices.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn publish(&self, devices: Vec<Arc<Enabled>>) {
        *self.devices.write().unwrap_or_else(|p| p.into_inner()) = Arc::from(devices);
        // A changed set is judged afresh by its next line.
        self.blocked.store(false, Ordering::Relaxed);
    }

    async fn read_table(&self) -> Result<Vec<DeviceEntry>, ApiError> {
        match self
            .barrier
            .get(TABLE_KEY)
            .await
            .map_err(ApiError::internal)?
        {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| ApiError::internal(format!("audit table is corrupt: {error}"))),
        }
    }

    async fn write_table(&self, entries: &[DeviceEntry]) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(entries).map_err(ApiError::internal)?;
        self.barrier
            .put(TABLE_KEY, &bytes)
            .await
            .map_err(ApiError::internal)
    }

    async fn read_salt(&self, uuid: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let salt = self
            .barrier
            .get(&salt_key(uuid))
            .await
            .map_err(ApiError::internal)?
            .map(Zeroizing::new)
            .ok_or_else(|| ApiError::internal(format!("audit device {uuid} has no salt")))?;
        if salt.len() != SALT_LEN {
            return Err(ApiError::internal(format!(
                "audit device {uuid} has a salt of the wrong length"
            )));
        }
        Ok(salt)
    }

    /// The table rows, sorted by path.
    pub fn list(&self) -> Vec<DeviceEntry> {
        let mut entries: Vec<DeviceEntry> = self
            .devices()
            .iter()
            .map(|enabled| enabled.entry.clone())
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries
    }

    /// `PUT sys/audit/:path`. The sink is opened before anything is persisted, so a path the
    /// broker cannot write is refused (400) instead of enabling a device that blocks every
    /// request.
    pub async fn enable(
        &self,
        path: &str,
        kind: DeviceType,
        description: String,
        options: DeviceOptions,
    ) -> Result<(), ApiError> {
        let path = crate::mount::normalize_path(path).map_err(ApiError::InvalidRequest)?;
        let _changes = self.changes.lock().await;
        let current = self.devices();
        if current.iter().any(|enabled| enabled.entry.path == path) {
            return Err(ApiError::invalid(format!("path already in use at {path}")));
        }
        let entry = DeviceEntry {
            path,
            kind,
            description,
            options,
            uuid: uuid::Uuid::new_v4().to_string(),
        };
        let mut salt = Zeroizing::new(vec![0u8; SALT_LEN]);
        rand::rng().fill_bytes(&mut salt);
        let enabled = build(entry, &salt)?;
        enabled.device.reopen().map_err(|error| {
            ApiError::invalid(format!("audit device cannot be opened: {error}"))
        })?;
        self.barrier
            .put(&salt_key(&enabled.entry.uuid), &salt)
            .await
            .map_err(ApiError::internal)?;
        let mut table = self.read_table().await?;
        table.push(enabled.entry.clone());
        self.write_table(&table).await?;
        tracing::info!(path = %enabled.entry.path, kind = ?enabled.entry.kind, "audit device enabled");
        let mut devices = current.to_vec();
        devices.push(Arc::new(enabled));
        self.publish(devices);
        Ok(())
    }

    /// `DELETE sys/audit/:path`. Disabling a path with no device succeeds, as for mounts.
    pub async fn disable(&self, path: &str) -> Result<(), ApiError> {
        let path = crate::mount::normalize_path(path).map_err(ApiError::InvalidRequest)?;
        let _changes = self.changes.lock().await;
        let current = self.devices();
        let Some(removed) = current.iter().find(|enabled| enabled.entry.path == path) else {
            return Ok(());
        };
        let table: Vec<DeviceEntry> = self
            .read_table()
            .await?
            .into_iter()
            .filter(|entry| entry.path != path)
            .collect();
        self.write_table(&table).await?;
        self.barrier
            .delete(&salt_key(&removed.entry.uuid))
            .await
            .map_err(ApiError::internal)?;
        tracing::info!(path = %path, "audit device disabled");
        self.publish(
            current
                .iter()
                .filter(|enabled| enabled.entry.path != path)
                .cloned()
                .collect(),
        );
        Ok(())
    }

    /// `sys/audit-hash/:path`: `input` hashed as the device would write it.
    pub fn hash(&self, path: &str, input: &str) -> Result<String, ApiError> {
        let path = crate::mount::normalize_path(path).map_err(ApiError::InvalidRequest)?;
        self.devices()
            .iter()
            .find(|enabled| enabled.entry.path == path)
            .map(|enabled| enabled.device.hash(input))
            .ok_or_else(|| ApiError::invalid(format!("unknown audit device {path}")))
    }

    /// Writes one line to every device of `devices`. One success is enough; none fails the
    /// request (500) and marks the broker blocked for `sys/health`.
    pub(crate) fn record(
        &self,
        devices: &[Arc<Enabled>],
        entry: &Entry<'_>,
    ) -> Result<(), ApiError> {
        let mut recorded = false;
        for enabled in devices {
            match enabled.device.log(entry) {
                Ok(()) => {
                    recorded = true;
                    if enabled.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!(device = %enabled.entry.path, "audit device recovered");
                    }
                }
                Err(error) => {
                    metrics::counter!(crate::metrics::AUDIT_FAILURES).increment(1);
                    if !enabled.failing.swap(true, Ordering::Relaxed) {
                        tracing::error!(device = %enabled.entry.path, %error, "audit device failed");
                    }
                }
            }
        }
        self.blocked.store(!recorded, Ordering::Relaxed);
        if recorded {
            Ok(())
        } else {
            Err(ApiError::internal(
                "no audit device could record the request; refusing it",
            ))
        }
    }

    /// Whether requests are being refused because no device can record them. While blocked,
    /// each call tries to reopen the failed file devices, so a fixed path clears the state
    /// even when no request arrives (a load balancer that stopped sending traffic because of
    /// this very answer would otherwise never see it clear).
    pub fn is_blocked(&self) -> bool {
        if !self.blocked.load(Ordering::Relaxed) {
            return false;
        }
        let reopened = self.devices().iter().any(|enabled| {
            matches!(enabled.device.sink(), Sink::File { .. }) && enabled.device.reopen().is_ok()
        });
        if reopened {
            self.blocked.store(false, Ordering::Relaxed);
        }
        !reopened
    }

    /// SIGHUP: reopen every file device (log rotation).
    pub fn reopen(&self) {
        for enabled in self.devices().iter() {
            match enabled.device.reopen() {
                Ok(()) => {
                    if enabled.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!(device = %enabled.entry.path, "audit device reopened");
                    }
                }
                Err(error) => {
                    enabled.failing.store(true, Ordering::Relaxed);
                    tracing::error!(device = %enabled.entry.path, %error, "audit device cannot be reopened");
                }
            }
        }
    }
}

/// The live device for a table row and its salt.
fn build(entry: DeviceEntry, salt: &[u8]) -> Result<Enabled, ApiError> {
    let sink = match (&entry.kind, &entry.options.file_path) {
        (DeviceType::File, Some(path)) if path.as_os_str() != "stdout" => Sink::File {
            path: path.clone(),
            mode: entry.options.mode,
        },
        (DeviceType::File, None) => {
            return Err(ApiError::internal("file audit device without a file_path"));
        }
        _ => Sink::Stdout,
    };
    let hasher = Hasher::new(salt).map_err(ApiError::internal)?;
    let redaction = Redaction::new(hasher, entry.options.log_raw, entry.options.hmac_accessor);
    Ok(Enabled {
        entry,
        device: Device::new(sink, redaction),
        failing: AtomicBool::new(false),
    })
}

impl Core {
    /// For `sys/health`: whether an unsealed broker is refusing requests for want of an
    /// audit device that works.
    pub fn audit_blocked(&self) -> bool {
        self.unsealed()
            .map(|unsealed| unsealed.audit().is_blocked())
            .unwrap_or(false)
    }

    /// SIGHUP: reopen the file audit devices.
    pub fn reopen_audit_devices(&self) {
        if let Ok(unsealed) = self.unsealed() {
            unsealed.audit().reopen();
        }
    }
}

/// Reopens the audit files on every SIGHUP, for log rotation. Runs for the process's life.
pub async fn reopen_on_hangup(core: Arc<Core>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; audit files will not be reopened on it");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reopening audit devices");
            core.reopen_audit_devices();
        }
    }
    #[cfg(not(unix))]
    let _ = core;
}

#[cfg(test)]
mod tests;
