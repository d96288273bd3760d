//! The `database` secret engine for PostgreSQL: dynamic login roles under leases, speaking
//! Vault's database secrets engine API with the `postgresql-database-plugin`.
//!
//! [`PostgresEngine`] serves these routes (relative to the mount):
//!
//! | route               | operations                    | module    |
//! |---------------------|-------------------------------|-----------|
//! | `config`            | list                          | `config`  |
//! | `config/:name`      | read, create, update, delete  | `config`  |
//! | `roles`             | list                          | `role`    |
//! | `roles/:name`       | read, create, update, delete  | `role`    |
//! | `creds/:name`       | read                          | `creds`   |
//! | `rotate-root/:name` | update                        | `rotate`  |
//! | `reset/:name`       | update                        | here      |
//!
//! Engine logic is separate from the database: every SQL statement and connection lives
//! behind `database::RoleManager` (and `pool`), and operator-written statements are rendered
//! by `statements`, which quotes every value for its position.
//!
//! Known departures from Vault: unknown request fields are a 400; fields Vault documents but
//! this engine does not implement (TLS files, password policies, rotation schedules, static
//! roles, other plugins) are a 400 when set; `rollback_statements` are stored but never run,
//! because creation is one transaction and a failed one leaves nothing behind; usernames are
//! restricted to `[A-Za-z0-9_.-]`.

mod config;
mod connection;
mod creds;
mod database;
mod error;
mod fields;
mod password;
mod pool;
mod role;
mod rotate;
mod statements;
mod username;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::{
    EngineContext, EngineError, LeasedSecret, Operation, RenewOutcome, Request, Response, Route,
    SecretEngine,
};

use crate::config::DatabaseConfig;
use crate::database::{PgRoleManager, RoleManager};
use crate::error::PgError;
use crate::pool::{Pool, Pools};

const CONFIG_LIST: &str = "config";
const CONFIG: &str = "config/:name";
const ROLES_LIST: &str = "roles";
const ROLE: &str = "roles/:name";
const CREDS: &str = "creds/:name";
const ROTATE_ROOT: &str = "rotate-root/:name";
const RESET: &str = "reset/:name";

/// The PostgreSQL database secret engine. One value may serve any number of mounts: configs
/// and roles live in each mount's storage; the engine holds only connection pools (keyed by
/// mount and config) and per-config locks.
/// Concurrent creations per (config, role); see `Backend::issue_lock`.
const ISSUE_PARALLELISM: usize = 8;

#[derive(Debug, Default)]
pub struct PostgresEngine {
    backend: Backend,
}

impl PostgresEngine {
    pub fn new() -> Self {
        Self::default()
    }

    async fn dispatch(&self, ctx: &EngineContext, request: &Request) -> Result<Response, PgError> {
        use Operation::{Create, Delete, List, Read, Update};
        let backend = &self.backend;
        match (request.route, request.operation) {
            (CONFIG_LIST, List) => config::list(ctx).await,
            (CONFIG, Read) => config::read(ctx, request).await,
            (CONFIG, Create | Update) => config::write(backend, ctx, request).await,
            (CONFIG, Delete) => config::delete(backend, ctx, request).await,
            (ROLES_LIST, List) => role::list(ctx).await,
            (ROLE, Read) => role::read(ctx, request).await,
            (ROLE, Create | Update) => role::write(ctx, request).await,
            (ROLE, Delete) => role::delete(ctx, request).await,
            (CREDS, Read) => creds::issue(backend, ctx, request).await,
            (ROTATE_ROOT, Update) => rotate::rotate_root(backend, ctx, request).await,
            (RESET, Update) => {
                backend.forget_pool(ctx, request.params.get("name"));
                Ok(Response::no_content())
            }
            _ => Err(PgError::Internal(format!(
                "no handler for {} on {:?}",
                request.operation, request.route
            ))),
        }
    }
}

#[async_trait]
impl SecretEngine for PostgresEngine {
    fn routes(&self) -> Vec<Route> {
        use Operation::{Create, Delete, List, Read, Update};
        vec![
            Route::new(CONFIG_LIST, &[List]),
            Route::new(CONFIG, &[Read, Create, Update, Delete]),
            Route::new(ROLES_LIST, &[List]),
            Route::new(ROLE, &[Read, Create, Update, Delete]),
            Route::new(CREDS, &[Read]),
            Route::new(ROTATE_ROOT, &[Update]),
            Route::new(RESET, &[Update]),
        ]
    }

    async fn exists(&self, ctx: &EngineContext, request: &Request) -> Result<bool, EngineError> {
        let key = match request.route {
            CONFIG => config::storage_key(request.params.get("name")),
            ROLE => role::storage_key(request.params.get("name")),
            _ => return Ok(true),
        };
        Ok(ctx.storage.get(&key).await?.is_some())
    }

    async fn handle(&self, ctx: &EngineContext, request: Request) -> Result<Response, EngineError> {
        Ok(self.dispatch(ctx, &request).await?)
    }

    async fn renew(
        &self,
        ctx: &EngineContext,
        secret: &LeasedSecret,
        increment: Option<Duration>,
    ) -> Result<RenewOutcome, EngineError> {
        check_kind(secret)?;
        Ok(creds::renew(&self.backend, ctx, secret, increment).await?)
    }

    async fn revoke(&self, ctx: &EngineContext, secret: &LeasedSecret) -> Result<(), EngineError> {
        check_kind(secret)?;
        Ok(creds::revoke(&self.backend, ctx, secret).await?)
    }
}

fn check_kind(secret: &LeasedSecret) -> Result<(), EngineError> {
    if secret.kind == creds::KIND {
        Ok(())
    } else {
        Err(EngineError::Internal(format!(
            "the database engine issues no leases of kind {:?}",
            secret.kind
        )))
    }
}

/// Engine state shared by the handlers: pools and per-config locks.
#[derive(Debug, Default)]
pub(crate) struct Backend {
    pools: Pools,
    /// Serializes writes, deletes and root rotations of one config.
    config_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Bounds user creation per (config, role): the statements of one role usually GRANT on
    /// the same objects, which PostgreSQL cannot update concurrently.
    issue_locks: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl Backend {
    fn key(ctx: &EngineContext, name: &str) -> String {
        format!("{}\n{name}", ctx.mount_path)
    }

    pub(crate) fn config_lock(
        &self,
        ctx: &EngineContext,
        name: &str,
    ) -> Arc<tokio::sync::Mutex<()>> {
        self.config_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(Self::key(ctx, name))
            .or_default()
            .clone()
    }

    /// Bounds how many creations of one role run at once. A mutex here (one at a time) capped
    /// a role's issue rate at the single-connection rate of the target; unbounded parallelism
    /// turns concurrent GRANTs on one object into retry storms. A few at a time, with the
    /// retry in `database` absorbing the occasional conflict, keeps both in check.
    pub(crate) fn issue_lock(
        &self,
        ctx: &EngineContext,
        config: &str,
        role: &str,
    ) -> Arc<tokio::sync::Semaphore> {
        self.issue_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(format!("{}\n{role}", Self::key(ctx, config)))
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(ISSUE_PARALLELISM)))
            .clone()
    }

    pub(crate) fn forget_pool(&self, ctx: &EngineContext, name: &str) {
        self.pools.remove(&Self::key(ctx, name));
    }

    /// A pool for `config` that is not shared (used to verify a config before storing it).
    pub(crate) fn unregistered_pool(
        &self,
        name: &str,
        config: &DatabaseConfig,
    ) -> Result<Arc<Pool>, PgError> {
        build_pool(name, config, None).map(Arc::new)
    }

    /// The role manager for config `name`, over its shared pool.
    pub(crate) async fn manager(
        &self,
        ctx: &EngineContext,
        name: &str,
        config: &DatabaseConfig,
    ) -> Result<Box<dyn RoleManager>, PgError> {
        // Copied only in the rare case of an interrupted root rotation: this runs on every
        // issue, renewal and revocation.
        let settled;
        let config = if config.pending_password.is_some() {
            settled = self
                .settle_pending_password(ctx, name, config.clone())
                .await?;
            &settled
        } else {
            config
        };
        let pool = self
            .pools
            .get_or_build(&Self::key(ctx, name), config.revision, || {
                build_pool(name, config, None)
            })?;
        Ok(Box::new(PgRoleManager::new(pool)))
    }

    /// A root rotation was interrupted: find out which password the database holds (the
    /// stored one first) and keep that one.
    async fn settle_pending_password(
        &self,
        ctx: &EngineContext,
        name: &str,
        mut config: DatabaseConfig,
    ) -> Result<DatabaseConfig, PgError> {
        let Some(pending) = config.pending_password.clone() else {
            return Ok(config);
        };
        let current = build_pool(name, &config, None)?;
        match current.connect().await {
            Ok(_) => config.pending_password = None,
            Err(current_error) => {
                let candidate = build_pool(name, &config, Some(&pending))?;
                if candidate.connect().await.is_err() {
                    return Err(PgError::Upstream(current_error.0));
                }
                tracing::warn!(config = name, "completing an interrupted root rotation");
                config.password = pending;
                config.pending_password = None;
                config.revision = rand::random();
            }
        }
        config::save(ctx, name, &config).await?;
        Ok(config)
    }
}

fn build_pool(
    name: &str,
    config: &DatabaseConfig,
    password: Option<&password::Secret>,
) -> Result<Pool, PgError> {
    let target = match password {
        Some(password) => config.target_with(name, password)?,
        None => config.target(name)?,
    };
    let mut secrets = vec![config.password.clone()];
    secrets.extend(config.pending_password.clone());
    Ok(Pool::new(
        target.config,
        secrets,
        target.label,
        config.limits(),
    ))
}

#[cfg(test)]
mod tests;
