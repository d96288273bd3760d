//! Persisted mount entries.

use lessor_sdk::{Map, Ttl};
use serde::{Deserialize, Serialize};

/// Whether an entry is a secret engine or an auth method; they live in separate tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Secret,
    Auth,
}

impl MountKind {
    /// The barrier key holding this kind's table.
    pub fn table_key(self) -> &'static str {
        match self {
            MountKind::Secret => "core/mounts",
            MountKind::Auth => "core/auth",
        }
    }

    /// The barrier prefix under which each mount's private data lives.
    pub fn storage_root(self) -> &'static str {
        match self {
            MountKind::Secret => "logical/",
            MountKind::Auth => "auth/",
        }
    }
}

/// Per-mount lease TTL settings; zero means "use the system value".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountTuning {
    #[serde(default)]
    pub default_lease_ttl: Ttl,
    #[serde(default)]
    pub max_lease_ttl: Ttl,
}

/// One mounted engine or auth method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountEntry {
    /// The full routing path with a trailing slash: `secret/`, `auth/kubernetes/`.
    pub path: String,
    /// The engine or method type (`kv`, `kubernetes`, ...).
    #[serde(rename = "type")]
    pub engine_type: String,
    pub kind: MountKind,
    #[serde(default)]
    pub description: String,
    /// Stable identity; the storage prefix derives from it so data survives a remount.
    pub uuid: String,
    pub accessor: String,
    #[serde(default)]
    pub config: MountTuning,
    #[serde(default)]
    pub options: Map,
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub seal_wrap: bool,
}

impl MountEntry {
    /// Where this mount's private data lives in the barrier.
    pub fn storage_prefix(&self) -> String {
        format!("{}{}/", self.kind.storage_root(), self.uuid)
    }

    /// Vault's `sys/mounts` representation of the entry.
    pub fn to_api(&self, system_default: Ttl, system_max: Ttl) -> serde_json::Value {
        let effective = |ttl: Ttl, system: Ttl| if ttl.is_zero() { system } else { ttl };
        serde_json::json!({
            "type": self.engine_type,
            "description": self.description,
            "accessor": self.accessor,
            "uuid": self.uuid,
            "config": {
                "default_lease_ttl": effective(self.config.default_lease_ttl, system_default).as_secs(),
                "max_lease_ttl": effective(self.config.max_lease_ttl, system_max).as_secs(),
                "force_no_cache": false,
            },
            "options": if self.options.is_empty() { serde_json::Value::Null } else { serde_json::Value::Object(self.options.clone()) },
            "local": self.local,
            "seal_wrap": self.seal_wrap,
            "external_entropy_access": false,
            "plugin_version": "",
            "running_plugin_version": "",
        })
    }
}
