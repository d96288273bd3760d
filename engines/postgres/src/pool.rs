//! A small connection pool per database config, and the registry that builds pools lazily
//! and replaces them when a config changes.
//!
//! The pool bounds open connections with a semaphore (`max_open_connections`), keeps up to
//! `max_idle_connections` idle ones, and retires connections older than
//! `max_connection_lifetime`. Connections are made with `NoTls` in [`Pool::connect`] only:
//! that is the one place a rustls connector would go.
//!
//! Usage is exported as `lessor_database_pool_connections{mount, config, state}` through the
//! `metrics` facade (the broker installs the recorder). The gauges move by increments, so
//! the pool that replaces a changed config and the old one draining its last connections add
//! up on the same series instead of overwriting each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Gauge, gauge};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls};

use crate::password::Secret;

/// How long a caller waits for a free connection before the request fails.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// Applied when the connection URL sets no `connect_timeout` of its own.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The metric name; described by the broker with every other metric.
const POOL_CONNECTIONS: &str = "lessor_database_pool_connections";

/// Pool sizing, from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolLimits {
    pub max_open: usize,
    pub max_idle: usize,
    /// `None`: connections are reused forever.
    pub max_lifetime: Option<Duration>,
}

/// Why a connection could not be had. The text names the target, never a password.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PoolError(pub String);

struct Idle {
    client: Client,
    born: Instant,
}

/// Connections to one target database as its root user.
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    /// Secrets that must never appear in an error message (the root password).
    secrets: Vec<Secret>,
    /// `config 'name' (host:port/db)`, for error messages.
    label: String,
    limits: PoolLimits,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    gauges: PoolGauges,
}

/// Idle and checked-out connections of the pools of one (mount, config).
struct PoolGauges {
    idle: Gauge,
    in_use: Gauge,
}

impl PoolGauges {
    /// `key` is the registry key: the mount path and the config name, joined by a newline.
    fn for_key(key: &str) -> Self {
        let (mount, config) = key.split_once('\n').unwrap_or(("", key));
        let (mount, config) = (mount.to_string(), config.to_string());
        Self {
            idle: gauge!(POOL_CONNECTIONS, "mount" => mount.clone(), "config" => config.clone(), "state" => "idle"),
            in_use: gauge!(POOL_CONNECTIONS, "mount" => mount, "config" => config, "state" => "in_use"),
        }
    }

    fn detached() -> Self {
        Self {
            idle: Gauge::noop(),
            in_use: Gauge::noop(),
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio_postgres::Config's Debug redacts the password, but print only what we need.
        f.debug_struct("Pool")
            .field("target", &self.label)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(
        mut config: tokio_postgres::Config,
        secrets: Vec<Secret>,
        label: String,
        limits: PoolLimits,
    ) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let limits = PoolLimits {
            max_open: limits.max_open.max(1),
            ..limits
        };
        Self {
            config,
            secrets,
            label,
            permits: Arc::new(Semaphore::new(limits.max_open)),
            limits,
            idle: Mutex::new(Vec::new()),
            gauges: PoolGauges::detached(),
        }
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Removes every secret this pool knows from `message`.
    pub(crate) fn scrub(&self, message: &str) -> String {
        scrub(message, &self.secrets)
    }

    /// A connection: an idle one if a live one is left, else a new one.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<PooledClient, PoolError> {
        let permit = tokio::time::timeout(CHECKOUT_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                PoolError(format!(
                    "timed out waiting for a free connection to {}",
                    self.label
                ))
            })?
            .map_err(|_| PoolError(format!("the connection pool for {} is closed", self.label)))?;
        while let Some(idle) = self.pop_idle() {
            if !idle.client.is_closed() && !self.expired(idle.born) {
                self.gauges.in_use.increment(1.0);
                return Ok(PooledClient {
                    client: Some(idle.client),
                    born: idle.born,
                    pool: self.clone(),
                    _permit: permit,
                });
            }
        }
        let client = self.connect().await?;
        self.gauges.in_use.increment(1.0);
        Ok(PooledClient {
            client: Some(client),
            born: Instant::now(),
            pool: self.clone(),
            _permit: permit,
        })
    }

    /// Opens one connection now (also used to verify a config).
    pub(crate) async fn connect(&self) -> Result<Client, PoolError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|error| {
            PoolError(format!(
                "cannot connect to {}: {}",
                self.label,
                self.scrub(&error_text(&error))
            ))
        })?;
        let label = self.label.clone();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // tokio-postgres errors never carry the password; the label has none either.
                tracing::debug!(target = %label, %error, "database connection ended");
            }
        });
        Ok(client)
    }

    fn pop_idle(&self) -> Option<Idle> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        if idle.is_some() {
            self.gauges.idle.decrement(1.0);
        }
        idle
    }

    fn expired(&self, born: Instant) -> bool {
        self.limits
            .max_lifetime
            .is_some_and(|lifetime| born.elapsed() >= lifetime)
    }

    fn give_back(&self, client: Client, born: Instant) {
        if client.is_closed() || self.expired(born) {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < self.limits.max_idle {
            idle.push(Idle { client, born });
            self.gauges.idle.increment(1.0);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = self
            .idle
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.gauges.idle.decrement(idle.len() as f64);
    }
}

/// A checked-out connection; returns to the pool on drop.
pub(crate) struct PooledClient {
    client: Option<Client>,
    born: Instant,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient")
            .field("target", &self.pool.label)
            .finish_non_exhaustive()
    }
}

impl PooledClient {
    pub(crate) fn client(&mut self) -> Result<&mut Client, PoolError> {
        self.client
            .as_mut()
            .ok_or_else(|| PoolError("connection already returned".into()))
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        self.pool.gauges.in_use.decrement(1.0);
        if let Some(client) = self.client.take() {
            self.pool.give_back(client, self.born);
        }
    }
}

/// Pools by config, rebuilt when the config's revision changes.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    pools: Mutex<HashMap<String, (u64, Arc<Pool>)>>,
}

impl Pools {
    /// The pool for `key` at `revision`, built with `build` when missing or stale. Building
    /// does not connect, so holding the lock while building is cheap.
    pub(crate) fn get_or_build<E>(
        &self,
        key: &str,
        revision: u64,
        build: impl FnOnce() -> Result<Pool, E>,
    ) -> Result<Arc<Pool>, E> {
        let mut pools = self
            .pools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((current, pool)) = pools.get(key)
            && *current == revision
        {
            return Ok(pool.clone());
        }
        let mut pool = build()?;
        pool.gauges = PoolGauges::for_key(key);
        let pool = Arc::new(pool);
        pools.insert(key.to_string(), (revision, pool.clone()));
        Ok(pool)
    }

    /// Forgets the pool for `key`; idle connections close as the last users drop it.
    pub(crate) fn remove(&self, key: &str) {
        self.pools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }
}

/// The whole error chain as text: tokio-postgres puts the useful part in the source.
pub(crate) fn error_text(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Replaces every non-empty secret in `message` with `[redacted]`.
pub(crate) fn scrub(message: &str, secrets: &[Secret]) -> String {
    let mut text = message.to_string();
    for secret in secrets {
        if !secret.is_empty() {
            text = text.replace(secret.expose(), "[redacted]");
        }
    }
    text
}
