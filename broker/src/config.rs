//! Server configuration: the file format (Vault-style HCL or JSON, unknown keys rejected),
//! `LESSOR_*` environment overrides, and the validated runtime [`ServerConfig`] built from
//! them. Nothing past this module sees the file types.

mod file;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::ConfigFile;
use file::{ListenerFile, StorageFile};

/// Where the broker keeps its (encrypted) data. Its `Debug` hides the password a PostgreSQL
/// connection URL may carry.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        connection_url: String,
        max_connections: u32,
    },
    Memory,
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgres {
                connection_url,
                max_connections,
            } => f
                .debug_struct("Postgres")
                .field("connection_url", &redacted_url(connection_url))
                .field("max_connections", max_connections)
                .finish(),
            Self::Memory => f.write_str("Memory"),
        }
    }
}

/// A PostgreSQL connection string fit for logs and `Debug`: a URL keeps its scheme, host,
/// port and database and loses its user information; a keyword/value string that names a
/// password is not shown at all.
pub(crate) fn redacted_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        let hidden = if authority.contains('@') { "***@" } else { "" };
        return format!("{scheme}://{hidden}{host}{path}");
    }
    if url.to_ascii_lowercase().contains("password") {
        "(connection string with a password, not shown)".to_string()
    } else {
        url.to_string()
    }
}

/// How the HTTP listener is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    Disabled,
    Files {
        cert_file: PathBuf,
        key_file: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub address: SocketAddr,
    pub tls: TlsConfig,
    /// Bodies above this are refused with 413 before they are parsed.
    pub max_request_size: usize,
    pub max_request_duration: Duration,
    pub telemetry: ListenerTelemetry,
    /// Peers (proxies, load balancers, the other HA nodes) whose `X-Forwarded-For` names the
    /// client; from anyone else the header is ignored. Empty: never believed.
    pub x_forwarded_for_authorized_addrs: Vec<ipnet::IpNet>,
}

/// Metrics access on one listener (Vault's listener `telemetry` block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerTelemetry {
    /// Serve `sys/metrics` without a token, sealed or not: for scrapers that cannot hold a
    /// token. Off by default; metrics name mounts and show activity.
    pub unauthenticated_metrics_access: bool,
}

/// What an HA node needs besides its storage (docs/operations.md, "High availability").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// The URL other nodes forward client requests to (scheme, host, port; no trailing `/`).
    pub api_addr: String,
    /// Reported by `sys/leader` only; Lessor has no cluster port of its own.
    pub cluster_addr: Option<String>,
    /// Standbys redirect (307) to the active node instead of forwarding.
    pub disable_forwarding: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Standard,
    Json,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub storage: StorageConfig,
    pub listener: ListenerConfig,
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
    pub log_level: String,
    pub log_format: LogFormat,
    pub api_addr: Option<String>,
    /// Active/standby on the PostgreSQL storage (`ha_enabled`); `None` without HA.
    pub ha: Option<HaConfig>,
    /// Failed revocations of a lease before it becomes irrevocable.
    pub lease_revocation_attempts: u32,
    /// The barrier's read cache (`cache_size` entries; `disable_cache`), as in Vault.
    pub read_cache: lessor_barrier::CacheLimits,
}

/// Why a configuration was refused. Messages name the offending key, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

pub const DEFAULT_REVOCATION_ATTEMPTS: u32 = 8;
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_REQUEST_DURATION: Duration = Duration::from_secs(90);
/// Vault's system default and maximum lease TTL: 32 days.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(32 * 24 * 3600);

impl ServerConfig {
    /// Reads a config file (HCL, or JSON when it starts with `{`) and applies the environment.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file = ConfigFile::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        Self::from_file(file, env)
    }

    /// Validates a parsed file and applies `LESSOR_*` overrides.
    pub fn from_file(
        file: ConfigFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (storage, ha_enabled) = match file.storage {
            Some(StorageFile::Sqlite(sqlite)) if !sqlite.ha_enabled => {
                (StorageConfig::Sqlite { path: sqlite.path }, false)
            }
            Some(StorageFile::Postgresql(postgres)) => (
                StorageConfig::Postgres {
                    connection_url: postgres.connection_url,
                    max_connections: postgres.max_parallel.unwrap_or(16),
                },
                postgres.ha_enabled,
            ),
            Some(StorageFile::Inmem(inmem)) if !inmem.ha_enabled => (StorageConfig::Memory, false),
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "ha_enabled needs storage \"postgresql\": the nodes must share one database"
                        .into(),
                ));
            }
            None => return Err(ConfigError::Invalid("a storage block is required".into())),
        };
        let storage = match (storage, env("LESSOR_PG_CONNECTION_URL")) {
            (
                StorageConfig::Postgres {
                    max_connections, ..
                },
                Some(url),
            ) => StorageConfig::Postgres {
                connection_url: url,
                max_connections,
            },
            (storage, _) => storage,
        };

        let ListenerFile::Tcp(tcp) = file
            .listener
            .ok_or_else(|| ConfigError::Invalid("a listener \"tcp\" block is required".into()))?;
        let address_text = env("LESSOR_LISTEN_ADDRESS").unwrap_or(tcp.address);
        let address = address_text.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "listener address {address_text:?} is not host:port"
            ))
        })?;
        let tls = if tcp.tls_disable {
            TlsConfig::Disabled
        } else {
            match (tcp.tls_cert_file, tcp.tls_key_file) {
                (Some(cert_file), Some(key_file)) => TlsConfig::Files {
                    cert_file,
                    key_file,
                },
                _ => {
                    return Err(ConfigError::Invalid(
                        "the listener needs tls_cert_file and tls_key_file, or tls_disable = true"
                            .into(),
                    ));
                }
            }
        };
        let listener = ListenerConfig {
            address,
            tls,
            max_request_size: tcp.max_request_size.unwrap_or(DEFAULT_MAX_REQUEST_SIZE),
            max_request_duration: tcp
                .max_request_duration
                .map(|ttl| ttl.0)
                .unwrap_or(DEFAULT_MAX_REQUEST_DURATION),
            telemetry: ListenerTelemetry {
                unauthenticated_metrics_access: tcp
                    .telemetry
                    .is_some_and(|telemetry| telemetry.unauthenticated_metrics_access),
            },
            x_forwarded_for_authorized_addrs: match &tcp.x_forwarded_for_authorized_addrs {
                Some(list) => list
                    .entries()
                    .into_iter()
                    .map(parse_network)
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        };
        if listener.max_request_size == 0 {
            return Err(ConfigError::Invalid(
                "max_request_size must be positive".into(),
            ));
        }

        let max_lease_ttl = file.max_lease_ttl.map(|t| t.0).unwrap_or(DEFAULT_LEASE_TTL);
        let default_lease_ttl = file
            .default_lease_ttl
            .map(|t| t.0)
            .unwrap_or(DEFAULT_LEASE_TTL);
        if default_lease_ttl > max_lease_ttl {
            return Err(ConfigError::Invalid(
                "default_lease_ttl cannot exceed max_lease_ttl".into(),
            ));
        }
        let log_format = match env("LESSOR_LOG_FORMAT")
            .or(file.log_format)
            .as_deref()
            .unwrap_or("standard")
        {
            "standard" | "pretty" | "text" => LogFormat::Standard,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "log_format {other:?} is not one of standard, json"
                )));
            }
        };
        let log_level = env("LESSOR_LOG_LEVEL")
            .or(file.log_level)
            .unwrap_or_else(|| "info".into());
        let log_level = validate_log_level(log_level)?;
        let api_addr = env("LESSOR_API_ADDR").or(file.api_addr);
        let ha = if ha_enabled {
            let api_addr = api_addr.as_deref().ok_or_else(|| {
                ConfigError::Invalid(
                    "ha_enabled needs api_addr: the URL the other nodes forward requests to".into(),
                )
            })?;
            Some(HaConfig {
                api_addr: validate_api_addr(api_addr)?,
                cluster_addr: env("LESSOR_CLUSTER_ADDR").or(file.cluster_addr),
                disable_forwarding: file.disable_forwarding,
            })
        } else {
            None
        };
        Ok(ServerConfig {
            storage,
            listener,
            default_lease_ttl,
            max_lease_ttl,
            log_level,
            log_format,
            api_addr,
            ha,
            lease_revocation_attempts: match file.lease_revocation_attempts {
                Some(0) => {
                    return Err(ConfigError::Invalid(
                        "lease_revocation_attempts must be at least 1".into(),
                    ));
                }
                Some(attempts) => attempts,
                None => DEFAULT_REVOCATION_ATTEMPTS,
            },
            read_cache: match (file.disable_cache, file.cache_size) {
                (Some(true), _) | (_, Some(0)) => lessor_barrier::CacheLimits::DISABLED,
                (_, Some(entries)) => lessor_barrier::CacheLimits {
                    max_entries: entries,
                    ..lessor_barrier::CacheLimits::default()
                },
                (_, None) => lessor_barrier::CacheLimits::default(),
            },
        })
    }
}

/// An `api_addr` as the URL requests are forwarded and redirected to: `http` or `https`, a
/// host, nothing past the authority (a path would be doubled by every forwarded request).
fn validate_api_addr(text: &str) -> Result<String, ConfigError> {
    // The value is not echoed: a mistyped one may carry credentials.
    let invalid = |why: &str| ConfigError::Invalid(format!("api_addr {why}"));
    let url = reqwest::Url::parse(text).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must be scheme://host:port with no path"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A CIDR (`10.0.0.0/8`) or a single address (`10.0.0.7`, meaning /32 or /128).
fn parse_network(text: &str) -> Result<ipnet::IpNet, ConfigError> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            ConfigError::Invalid(format!(
                "x_forwarded_for_authorized_addrs entry {text:?} is not an address or CIDR"
            ))
        })
}

/// Accepts a level (`info`) or filter directives (`info,lessor_broker=debug`). A bare word
/// that is not a level is refused: the filter syntax would read it as a target name and
/// silently switch every other log off (`verbose` would log nothing).
pub fn validate_log_level(text: String) -> Result<String, ConfigError> {
    let invalid = || {
        ConfigError::Invalid(format!(
            "log_level {text:?} is not a level (trace, debug, info, warn, error, off) or target=level filter"
        ))
    };
    for directive in text.split(',').map(str::trim) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if level.is_empty()
            || level
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .is_err()
        {
            return Err(invalid());
        }
    }
    tracing_subscriber::EnvFilter::try_new(&text).map_err(|_| invalid())?;
    Ok(text)
}

#[cfg(test)]
mod tests;
