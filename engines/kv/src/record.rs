//! The records KV persists (mount config, key metadata, version data) and the rules that act
//! on them alone: adding a version within `max_versions`, computing deletion times, and the
//! Vault-shaped views returned to clients.
//!
//! Timestamps are stored as RFC 3339 with nanoseconds and shown the way Vault shows them
//! (Go's `RFC3339Nano`: UTC, `Z`, trailing zeros trimmed); an unset `deletion_time` shows as
//! an empty string. Durations are whole seconds, shown Go-style (`"1h0m0s"`).

use std::collections::BTreeMap;
use std::fmt;

use lessor_sdk::Map;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::KvError;

/// Versions kept per key when neither the key nor the mount sets `max_versions`.
pub(crate) const DEFAULT_MAX_VERSIONS: u32 = 10;

/// Mount-wide settings (`config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MountConfig {
    /// 0 means "not set": keys fall back to [`DEFAULT_MAX_VERSIONS`].
    #[serde(default)]
    pub max_versions: u32,
    #[serde(default)]
    pub cas_required: bool,
    /// Seconds. 0 means "not set"; negative disables `delete_version_after` on every key.
    #[serde(default)]
    pub delete_version_after: i64,
}

impl MountConfig {
    pub(crate) fn view(&self) -> Map {
        let mut view = Map::new();
        view.insert("cas_required".into(), self.cas_required.into());
        view.insert(
            "delete_version_after".into(),
            go_duration(self.delete_version_after).into(),
        );
        view.insert("max_versions".into(), self.max_versions.into());
        view
    }
}

/// One version's bookkeeping, kept in the key's metadata (its data is stored apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMetadata {
    #[serde(with = "time::serde::rfc3339")]
    pub created_time: OffsetDateTime,
    /// When the version is (or will be) soft-deleted; `delete_version_after` sets it ahead.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deletion_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub destroyed: bool,
}

impl VersionMetadata {
    /// Deleted once its deletion time has arrived. Vault compares strictly; we count the
    /// instant itself as deleted so a delete is visible at once even when the clock has not
    /// moved (a manual clock in tests, a coarse clock in production).
    pub(crate) fn is_deleted(&self, now: OffsetDateTime) -> bool {
        self.deletion_time.is_some_and(|at| at <= now)
    }

    /// Readable: neither deleted nor destroyed.
    pub(crate) fn is_live(&self, now: OffsetDateTime) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }

    fn view(&self) -> Result<Map, KvError> {
        let mut view = Map::new();
        view.insert("created_time".into(), timestamp(self.created_time)?.into());
        let deletion_time = match self.deletion_time {
            Some(at) => timestamp(at)?,
            None => String::new(),
        };
        view.insert("deletion_time".into(), deletion_time.into());
        view.insert("destroyed".into(), self.destroyed.into());
        Ok(view)
    }
}

/// Everything KV knows about one key besides its version data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyMetadata {
    #[serde(with = "time::serde::rfc3339")]
    pub created_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_time: OffsetDateTime,
    /// The newest version number; 0 before the first write.
    pub current_version: u64,
    /// Vault's sliding-window marker: 0 until versions are first pruned.
    pub oldest_version: u64,
    /// 0 means "use the mount's setting".
    pub max_versions: u32,
    pub cas_required: bool,
    /// Seconds; 0 means "use the mount's setting".
    pub delete_version_after: u64,
    pub custom_metadata: BTreeMap<String, String>,
    /// Versions still tracked, by number; pruned versions are gone from here and from storage.
    pub versions: BTreeMap<u64, VersionMetadata>,
}

impl KeyMetadata {
    pub(crate) fn new(now: OffsetDateTime) -> Self {
        Self {
            created_time: now,
            updated_time: now,
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    /// When a version written or undeleted at `from` becomes deleted: `from` plus the smaller
    /// of the key's and the mount's non-zero `delete_version_after`, unless the mount disables
    /// it.
    pub(crate) fn deletion_time(
        &self,
        config: &MountConfig,
        from: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        if config.delete_version_after < 0 {
            return None;
        }
        let mount = u64::try_from(config.delete_version_after).unwrap_or(0);
        let after = match (mount, self.delete_version_after) {
            (0, 0) => return None,
            (0, key) => key,
            (mount, 0) => mount,
            (mount, key) => mount.min(key),
        };
        from.checked_add(time::Duration::seconds(i64::try_from(after).ok()?))
    }

    /// Records a new version and slides the `max_versions` window the way Vault does.
    /// Returns the new version number and the versions that fell out of the window, whose
    /// data the caller must delete in the same batch.
    pub(crate) fn add_version(
        &mut self,
        created_time: OffsetDateTime,
        deletion_time: Option<OffsetDateTime>,
        config_max_versions: u32,
    ) -> (u64, Vec<u64>) {
        self.current_version += 1;
        let number = self.current_version;
        self.versions.insert(
            number,
            VersionMetadata {
                created_time,
                deletion_time,
                destroyed: false,
            },
        );
        self.updated_time = created_time;
        let max = match self.max_versions.max(config_max_versions) {
            0 => DEFAULT_MAX_VERSIONS,
            max => max,
        };
        let max = u64::from(max);
        if number - self.oldest_version < max {
            return (number, Vec::new());
        }
        let last_to_drop = number - max;
        let kept = self.versions.split_off(&(last_to_drop + 1));
        let dropped = std::mem::replace(&mut self.versions, kept);
        self.oldest_version = last_to_drop + 1;
        (number, dropped.into_keys().collect())
    }

    /// `custom_metadata` as Vault shows it: `null` when there is none.
    fn custom_metadata_view(&self) -> Value {
        if self.custom_metadata.is_empty() {
            Value::Null
        } else {
            json!(self.custom_metadata)
        }
    }

    /// One version's metadata as `data/` shows it (and as a write returns it).
    pub(crate) fn version_view(&self, number: u64) -> Result<Map, KvError> {
        let version = self.versions.get(&number).ok_or(KvError::NotFound)?;
        let mut view = version.view()?;
        view.insert("custom_metadata".into(), self.custom_metadata_view());
        view.insert("version".into(), number.into());
        Ok(view)
    }

    /// The whole record as `metadata/` shows it.
    pub(crate) fn view(&self) -> Result<Map, KvError> {
        let mut versions = Map::new();
        for (number, version) in &self.versions {
            versions.insert(number.to_string(), Value::Object(version.view()?));
        }
        let delete_version_after = i64::try_from(self.delete_version_after).unwrap_or(i64::MAX);
        let mut view = Map::new();
        view.insert("cas_required".into(), self.cas_required.into());
        view.insert("created_time".into(), timestamp(self.created_time)?.into());
        view.insert("current_version".into(), self.current_version.into());
        view.insert("custom_metadata".into(), self.custom_metadata_view());
        view.insert(
            "delete_version_after".into(),
            go_duration(delete_version_after).into(),
        );
        view.insert("max_versions".into(), self.max_versions.into());
        view.insert("oldest_version".into(), self.oldest_version.into());
        view.insert("updated_time".into(), timestamp(self.updated_time)?.into());
        view.insert("versions".into(), Value::Object(versions));
        Ok(view)
    }
}

/// One version's data. `Debug` prints nothing of it: it is the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredVersion {
    pub data: Map,
}

impl fmt::Debug for StoredVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredVersion")
            .field("fields", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed, like Go's `RFC3339Nano`.
pub(crate) fn timestamp(at: OffsetDateTime) -> Result<String, KvError> {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|error| KvError::Internal(format!("timestamp does not format: {error}")))
}

/// Whole seconds the way Go's `time.Duration.String` prints them: `0s`, `45s`, `1m30s`,
/// `1h0m0s`, `-1s`.
pub(crate) fn go_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (hours, minutes, secs) = (total / 3600, total % 3600 / 60, total % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(90_061), "25h1m1s");
        assert_eq!(go_duration(-1), "-1s");
    }

    #[test]
    fn timestamps_like_go() {
        assert_eq!(timestamp(T0).unwrap(), "2024-05-01T12:00:00Z");
        let nanos = datetime!(2024-05-01 12:00:00.123456789 UTC);
        assert_eq!(timestamp(nanos).unwrap(), "2024-05-01T12:00:00.123456789Z");
        let tenths = datetime!(2024-05-01 14:00:00.5 +02:00);
        assert_eq!(timestamp(tenths).unwrap(), "2024-05-01T12:00:00.5Z");
    }

    #[test]
    fn window_slides_like_vault() {
        let mut meta = KeyMetadata::new(T0);
        meta.max_versions = 2;
        assert_eq!(meta.add_version(T0, None, 0), (1, vec![]));
        // Vault moves oldest_version to 1 once the window is full, dropping nothing.
        assert_eq!(meta.add_version(T0, None, 0), (2, vec![]));
        assert_eq!(meta.oldest_version, 1);
        assert_eq!(meta.add_version(T0, None, 0), (3, vec![1]));
        assert_eq!(meta.oldest_version, 2);
        assert_eq!(
            meta.versions.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        // Shrinking the window drops several at once on the next write.
        meta.max_versions = 1;
        assert_eq!(meta.add_version(T0, None, 0), (4, vec![2, 3]));
        assert_eq!(meta.versions.keys().copied().collect::<Vec<_>>(), vec![4]);
    }

    #[test]
    fn default_window_is_ten() {
        let mut meta = KeyMetadata::new(T0);
        for expected in 1..=10 {
            assert_eq!(meta.add_version(T0, None, 0), (expected, vec![]));
        }
        assert_eq!(meta.add_version(T0, None, 0), (11, vec![1]));
        assert_eq!(meta.versions.len(), 10);
    }

    #[test]
    fn deletion_time_takes_the_smaller_setting() {
        let mut meta = KeyMetadata::new(T0);
        let mut config = MountConfig::default();
        assert_eq!(meta.deletion_time(&config, T0), None);
        meta.delete_version_after = 60;
        assert_eq!(
            meta.deletion_time(&config, T0),
            Some(T0 + time::Duration::seconds(60))
        );
        config.delete_version_after = 30;
        assert_eq!(
            meta.deletion_time(&config, T0),
            Some(T0 + time::Duration::seconds(30))
        );
        config.delete_version_after = 600;
        assert_eq!(
            meta.deletion_time(&config, T0),
            Some(T0 + time::Duration::seconds(60))
        );
        config.delete_version_after = -1;
        assert_eq!(meta.deletion_time(&config, T0), None);
    }

    #[test]
    fn stored_version_debug_hides_data() {
        let mut data = Map::new();
        data.insert("password".into(), "hunter2".into());
        let printed = format!("{:?}", StoredVersion { data });
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
