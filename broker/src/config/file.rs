//! The on-disk configuration format. Mirrors Vault's server config where Lessor has the same
//! concept, so an operator's existing file mostly carries over; every unknown key is an error
//! rather than a silently ignored typo.

use std::path::PathBuf;

use lessor_sdk::Ttl;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub(super) storage: Option<StorageFile>,
    pub(super) listener: Option<ListenerFile>,
    pub(super) default_lease_ttl: Option<Ttl>,
    pub(super) max_lease_ttl: Option<Ttl>,
    pub(super) log_level: Option<String>,
    pub(super) log_format: Option<String>,
    pub(super) api_addr: Option<String>,
    /// HA: this node's cluster address, reported by `sys/leader` only.
    pub(super) cluster_addr: Option<String>,
    /// HA: standbys answer 307 to the active node instead of forwarding.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub(super) disable_forwarding: bool,
    pub(super) lease_revocation_attempts: Option<u32>,
    /// Entries in the barrier's read cache (Vault's `cache_size`); 0 disables it.
    pub(super) cache_size: Option<usize>,
    /// Turns the read cache off (Vault's `disable_cache`).
    pub(super) disable_cache: Option<bool>,
    /// Accepted for compatibility with Vault configs; Lessor never swaps keys to disk because
    /// it holds them in zeroized heap buffers only, so there is nothing to configure.
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) disable_mlock: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) ui: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum StorageFile {
    Sqlite(SqliteFile),
    Postgresql(PostgresFile),
    Inmem(InmemFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SqliteFile {
    pub(super) path: PathBuf,
    /// Accepted only to refuse it with a clear message: HA needs shared storage.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub(super) ha_enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PostgresFile {
    pub(super) connection_url: String,
    pub(super) max_parallel: Option<u32>,
    /// Active/standby over this database (Vault spells it as a string: `"true"`).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub(super) ha_enabled: bool,
}

impl std::fmt::Debug for PostgresFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresFile")
            .field("connection_url", &super::redacted_url(&self.connection_url))
            .field("max_parallel", &self.max_parallel)
            .field("ha_enabled", &self.ha_enabled)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InmemFile {
    /// Accepted only to refuse it with a clear message: HA needs shared storage.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub(super) ha_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ListenerFile {
    Tcp(TcpListenerFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TcpListenerFile {
    #[serde(default = "default_address")]
    pub(super) address: String,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub(super) tls_disable: bool,
    pub(super) tls_cert_file: Option<PathBuf>,
    pub(super) tls_key_file: Option<PathBuf>,
    pub(super) max_request_size: Option<usize>,
    pub(super) max_request_duration: Option<Ttl>,
    pub(super) telemetry: Option<ListenerTelemetryFile>,
    /// Peers whose `X-Forwarded-For` is believed (Vault's spelling): a list of CIDRs or
    /// addresses, or one comma-separated string.
    pub(super) x_forwarded_for_authorized_addrs: Option<AddressList>,
}

/// A list written either as a list or as one comma-separated string, as Vault accepts both.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum AddressList {
    List(Vec<String>),
    Text(String),
}

impl AddressList {
    pub(super) fn entries(&self) -> Vec<&str> {
        let entries: Vec<&str> = match self {
            AddressList::List(items) => items.iter().map(|item| item.trim()).collect(),
            AddressList::Text(text) => text.split(',').map(str::trim).collect(),
        };
        entries
            .into_iter()
            .filter(|entry| !entry.is_empty())
            .collect()
    }
}

/// Vault's per-listener `telemetry { … }` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListenerTelemetryFile {
    #[serde(default, deserialize_with = "flexible_bool")]
    pub(super) unauthenticated_metrics_access: bool,
}

fn default_address() -> String {
    "127.0.0.1:8200".into()
}

/// Vault configs write booleans as `true`, `"true"` or `1`; accept all three.
fn flexible_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flexible {
        Bool(bool),
        Int(i64),
        Text(String),
    }
    match Flexible::deserialize(deserializer)? {
        Flexible::Bool(value) => Ok(value),
        Flexible::Int(0) => Ok(false),
        Flexible::Int(1) => Ok(true),
        Flexible::Text(text) => match text.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "{text:?} is not a boolean"
            ))),
        },
        Flexible::Int(other) => Err(serde::de::Error::custom(format!(
            "{other} is not a boolean"
        ))),
    }
}

impl ConfigFile {
    /// Parses HCL, or JSON when the text starts with `{`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|error| error.to_string())
        } else {
            hcl::from_str(text).map_err(|error| error.to_string())
        }
    }
}
