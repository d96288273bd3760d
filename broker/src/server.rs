//! Starting the broker: configuration, logging, storage, the core, the listener.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use lessor_sdk::SystemClock;
use lessor_storage::Storage;
use tokio::net::TcpListener;

use crate::config::{
    DEFAULT_LEASE_TTL, DEFAULT_MAX_REQUEST_DURATION, DEFAULT_MAX_REQUEST_SIZE, HaConfig,
    ListenerConfig, LogFormat, ServerConfig, StorageConfig, TlsConfig,
};
use crate::core::{Core, CoreSettings};
use crate::ha::Ha;
use crate::http;

/// Storage for `-dev` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevStorage {
    #[default]
    Sqlite,
    Memory,
}

/// What `lessor server` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ServerArgs {
    pub dev: bool,
    pub config: Option<PathBuf>,
    pub dev_listen_address: Option<String>,
    pub dev_storage: DevStorage,
    pub dev_root_token_id: Option<String>,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The configuration `-dev` runs with: plain HTTP on loopback, SQLite in a fresh temporary
/// directory (or memory), Vault's default TTLs.
fn dev_config(
    args: &ServerArgs,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<ServerConfig> {
    let address = args
        .dev_listen_address
        .clone()
        .or_else(|| env_var("LESSOR_DEV_LISTEN_ADDRESS"))
        .unwrap_or_else(|| "127.0.0.1:8200".into());
    let storage = match (args.dev_storage, data_dir) {
        (DevStorage::Sqlite, Some(dir)) => StorageConfig::Sqlite {
            path: dir.join("lessor.db"),
        },
        _ => StorageConfig::Memory,
    };
    Ok(ServerConfig {
        storage,
        listener: ListenerConfig {
            address: address
                .parse()
                .with_context(|| format!("dev listen address {address:?} is not host:port"))?,
            tls: TlsConfig::Disabled,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            max_request_duration: DEFAULT_MAX_REQUEST_DURATION,
            telemetry: Default::default(),
            x_forwarded_for_authorized_addrs: Vec::new(),
        },
        default_lease_ttl: DEFAULT_LEASE_TTL,
        max_lease_ttl: DEFAULT_LEASE_TTL,
        log_level: crate::config::validate_log_level(
            env_var("LESSOR_LOG_LEVEL").unwrap_or_else(|| "info".into()),
        )?,
        log_format: match env_var("LESSOR_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Standard,
        },
        api_addr: None,
        ha: None,
        lease_revocation_attempts: crate::config::DEFAULT_REVOCATION_ATTEMPTS,
        read_cache: lessor_barrier::CacheLimits::default(),
    })
}

/// Third-party log targets that print SQL text, and so can print secrets (a `CREATE ROLE`
/// carries the new role's password as a literal: it cannot be a bind parameter).
const SECRET_BEARING_TARGETS: &[&str] = &["tokio_postgres", "sqlx", "postgres"];

fn init_logging(config: &ServerConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(capped_filter(&config.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests embedding the server) is harmless: keep the first.
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Standard => builder.try_init(),
    };
}

/// The operator's filter with every directive naming a secret-bearing target (or a module of
/// one) removed and those targets capped at warn. Removing, not overriding, because a more
/// specific directive (`tokio_postgres::simple_query=debug`) would beat any cap (invariant 5).
fn capped_filter(wanted: &str) -> String {
    let names_capped_target = |directive: &str| {
        let target = directive
            .split('=')
            .next()
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("");
        SECRET_BEARING_TARGETS
            .iter()
            .any(|capped| target == *capped || target.starts_with(&format!("{capped}::")))
    };
    wanted
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty() && !names_capped_target(directive))
        .map(str::to_string)
        .chain(
            SECRET_BEARING_TARGETS
                .iter()
                .map(|target| format!("{target}=warn")),
        )
        .collect::<Vec<_>>()
        .join(",")
}

/// The storage backend and, with HA, this node's leadership handle sharing its fence.
async fn open_storage(
    storage: &StorageConfig,
    ha: Option<&HaConfig>,
) -> anyhow::Result<(Arc<dyn Storage>, Option<Arc<Ha>>)> {
    if let (
        StorageConfig::Postgres {
            connection_url,
            max_connections,
        },
        Some(ha),
    ) = (storage, ha)
    {
        let backend = lessor_storage::PostgresBackend::connect_ha(connection_url, *max_connections)
            .await
            .context("connecting to PostgreSQL storage")?;
        // A fresh identity per process: a restarted node is a new candidate, and the leader
        // row never confuses it with the process that held leadership before.
        let node = lessor_storage::NodeInfo {
            node_id: uuid::Uuid::new_v4().to_string(),
            api_addr: ha.api_addr.clone(),
            cluster_addr: ha.cluster_addr.clone(),
        };
        tracing::info!(node_id = %node.node_id, api_addr = %node.api_addr, "HA enabled");
        let handle = Ha::new(backend.clone(), connection_url, node, ha.disable_forwarding)
            .await
            .context("opening the HA leadership connection")?;
        return Ok((Arc::new(backend), Some(Arc::new(handle))));
    }
    Ok((open_plain_storage(storage).await?, None))
}

async fn open_plain_storage(storage: &StorageConfig) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match storage {
        StorageConfig::Sqlite { path } => Arc::new(
            lessor_storage::SqliteBackend::open(path)
                .await
                .with_context(|| format!("opening SQLite storage at {}", path.display()))?,
        ),
        StorageConfig::Postgres {
            connection_url,
            max_connections,
        } => Arc::new(
            lessor_storage::PostgresBackend::connect(connection_url, *max_connections)
                .await
                .context("connecting to PostgreSQL storage")?,
        ),
        StorageConfig::Memory => Arc::new(lessor_storage::MemoryBackend::new()),
    })
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let dev_dir = if args.dev && args.dev_storage == DevStorage::Sqlite {
        Some(tempfile_dir()?)
    } else {
        None
    };
    let config = match (&args.config, args.dev) {
        (_, true) => dev_config(&args, dev_dir.as_deref())?,
        (Some(path), false) => ServerConfig::load(path, &env_var)?,
        (None, false) => anyhow::bail!("a config file is required (-config FILE), or use -dev"),
    };
    init_logging(&config);

    let (storage, ha) = open_storage(&config.storage, config.ha.as_ref()).await?;
    let mut core = Core::new(
        storage,
        Arc::new(SystemClock),
        CoreSettings {
            default_lease_ttl: config.default_lease_ttl,
            max_lease_ttl: config.max_lease_ttl,
            lease_revocation_attempts: config.lease_revocation_attempts,
            read_cache: config.read_cache,
        },
    );
    if let Some(ha) = ha {
        core = core.with_ha(ha);
    }
    let core = Arc::new(core);
    tokio::spawn(crate::ha::coordinate(Arc::clone(&core)));
    let listener = TcpListener::bind(config.listener.address)
        .await
        .with_context(|| format!("binding {}", config.listener.address))?;
    let address = listener.local_addr()?;

    if args.dev {
        let output = core
            .bootstrap_dev(args.dev_root_token_id.as_deref())
            .await
            .context("bootstrapping dev mode")?;
        print_dev_banner(&address, &output, dev_dir.as_deref())?;
    }

    // Log rotation: SIGHUP reopens the audit files.
    tokio::spawn(crate::audit::reopen_on_hangup(Arc::clone(&core)));
    let app = http::router(
        Arc::clone(&core),
        http::Limits {
            max_request_size: config.listener.max_request_size,
            max_request_duration: config.listener.max_request_duration,
            unauthenticated_metrics_access: config
                .listener
                .telemetry
                .unauthenticated_metrics_access,
            x_forwarded_for_authorized_addrs: config
                .listener
                .x_forwarded_for_authorized_addrs
                .clone(),
        },
    );
    let scheme = match config.listener.tls {
        TlsConfig::Disabled => "http",
        TlsConfig::Files { .. } => "https",
    };
    tracing::info!(address = %address, scheme, "listening");
    http::serve(listener, app, &config.listener.tls, shutdown_signal()).await?;
    tracing::info!("shutting down");
    core.seal().await;
    if let Some(dir) = dev_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// A fresh private directory for dev-mode storage.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("lessor-dev-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The dev banner goes to stdout, never to the log: it is the one place the root token and
/// unseal key are meant to be shown.
fn print_dev_banner(
    address: &std::net::SocketAddr,
    output: &crate::core::InitOutput,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let unseal_key = output
        .shares
        .first()
        .map(|share| share.to_base64())
        .unwrap_or_default();
    let storage = dir
        .map(|dir| format!("SQLite in {}", dir.display()))
        .unwrap_or_else(|| "memory".into());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "WARNING! dev mode is enabled! In this mode, Lessor runs entirely unsealed with a
single unseal key and a printed root token. Do not run dev mode in production!

You may need to set the following environment variables:

    $ export LESSOR_ADDR='http://{address}'

The unseal key and root token are displayed below in case you want to
seal/unseal the broker or re-authenticate.

Unseal Key: {unseal_key}
Root Token: {root_token}

Storage: {storage} (deleted on exit)
",
        unseal_key = unseal_key.as_str(),
        root_token = output.root_token.as_str(),
    )?;
    out.flush()?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::capped_filter;

    #[test]
    fn secret_bearing_targets_cannot_be_raised() {
        assert_eq!(
            capped_filter(
                "debug,tokio_postgres::simple_query=trace,sqlx=debug,lessor_broker=trace"
            ),
            "debug,lessor_broker=trace,tokio_postgres=warn,sqlx=warn,postgres=warn"
        );
        // A target that merely starts with the same letters is left alone.
        assert!(capped_filter("sqlxish=debug").starts_with("sqlxish=debug,"));
    }
}
