//! KV version 2: versioned static secrets, speaking Vault's KV v2 API.
//!
//! [`KvEngine`] declares the routes below (relative to the mount) and dispatches each request
//! to the module that owns it:
//!
//! | route            | operations                                | module     |
//! |------------------|-------------------------------------------|------------|
//! | `config`         | read, update                              | `config`   |
//! | `data/*path`     | read, create, update, patch, delete       | `data`     |
//! | `subkeys/*path`  | read                                      | `data`     |
//! | `metadata/*path` | read, create, update, patch, delete, list | `metadata` |
//! | `delete/*path`   | update                                    | `versions` |
//! | `undelete/*path` | update                                    | `versions` |
//! | `destroy/*path`  | update                                    | `versions` |
//!
//! The storage layout and its atomicity invariant are described in `store`. KV never issues
//! leases, so [`SecretEngine::revoke`] refuses.
//!
//! Known departures from Vault, all on purpose: unknown request fields are a 400 rather than
//! a warning; a read of a deleted or destroyed version is a bare 404 (Vault adds the version's
//! metadata to the 404 body, which the SDK's error kinds cannot carry); a version whose
//! `deletion_time` is exactly now already counts as deleted.

mod config;
mod data;
mod error;
mod fields;
mod key_lock;
mod merge_patch;
mod metadata;
mod record;
mod secret_path;
mod store;
mod versions;

use async_trait::async_trait;
use lessor_sdk::{
    EngineContext, EngineError, LeasedSecret, Operation, Request, Response, Route, SecretEngine,
};

use crate::error::KvError;
use crate::key_lock::KeyLocks;
use crate::secret_path::SecretPath;
use crate::versions::Action;

const CONFIG: &str = "config";
const DATA: &str = "data/*path";
const SUBKEYS: &str = "subkeys/*path";
const METADATA: &str = "metadata/*path";
const DELETE: &str = "delete/*path";
const UNDELETE: &str = "undelete/*path";
const DESTROY: &str = "destroy/*path";

/// The KV version 2 secret engine. One value may serve any number of mounts: all state lives
/// in each mount's storage; the engine itself holds only per-key write locks.
#[derive(Debug, Default)]
pub struct KvEngine {
    locks: KeyLocks,
}

impl KvEngine {
    pub fn new() -> Self {
        Self::default()
    }

    async fn dispatch(&self, ctx: &EngineContext, request: &Request) -> Result<Response, KvError> {
        use Operation::{Create, Delete, List, Patch, Read, Update};
        let locks = &self.locks;
        match (request.route, request.operation) {
            (CONFIG, Read) => config::read(ctx, request).await,
            (CONFIG, Update) => config::write(locks, ctx, request).await,
            (DATA, Read) => data::read(ctx, request).await,
            (DATA, Create | Update) => data::write(locks, ctx, request).await,
            (DATA, Patch) => data::patch(locks, ctx, request).await,
            (DATA, Delete) => data::delete_latest(locks, ctx, request).await,
            (SUBKEYS, Read) => data::subkeys(ctx, request).await,
            (METADATA, Read) => metadata::read(ctx, request).await,
            (METADATA, List) => metadata::list(ctx, request).await,
            (METADATA, Create | Update) => metadata::write(locks, ctx, request).await,
            (METADATA, Patch) => metadata::patch(locks, ctx, request).await,
            (METADATA, Delete) => metadata::delete(locks, ctx, request).await,
            (DELETE, Update) => versions::apply(Action::Delete, locks, ctx, request).await,
            (UNDELETE, Update) => versions::apply(Action::Undelete, locks, ctx, request).await,
            (DESTROY, Update) => versions::apply(Action::Destroy, locks, ctx, request).await,
            _ => Err(KvError::Internal(format!(
                "no handler for {} on {:?}",
                request.operation, request.route
            ))),
        }
    }
}

#[async_trait]
impl SecretEngine for KvEngine {
    fn routes(&self) -> Vec<Route> {
        use Operation::{Create, Delete, List, Patch, Read, Update};
        vec![
            Route::new(CONFIG, &[Read, Update]),
            Route::new(DATA, &[Read, Create, Update, Patch, Delete]),
            Route::new(SUBKEYS, &[Read]),
            Route::new(METADATA, &[Read, Create, Update, Patch, Delete, List]),
            Route::new(DELETE, &[Update]),
            Route::new(UNDELETE, &[Update]),
            Route::new(DESTROY, &[Update]),
        ]
    }

    /// A key exists once it has metadata, whether or not it has versions yet: Vault's rule,
    /// so a policy's `create` and `update` mean the same thing here as there.
    async fn exists(&self, ctx: &EngineContext, request: &Request) -> Result<bool, EngineError> {
        match request.route {
            DATA | METADATA => {
                let path = SecretPath::parse(request.params.get("path"))?;
                Ok(store::load_metadata(ctx.storage.as_ref(), &path)
                    .await?
                    .is_some())
            }
            _ => Ok(true),
        }
    }

    async fn handle(&self, ctx: &EngineContext, request: Request) -> Result<Response, EngineError> {
        Ok(self.dispatch(ctx, &request).await?)
    }

    async fn revoke(&self, _ctx: &EngineContext, secret: &LeasedSecret) -> Result<(), EngineError> {
        Err(EngineError::Internal(format!(
            "kv issues no leases, yet was asked to revoke one of kind {:?}",
            secret.kind
        )))
    }
}

#[cfg(test)]
mod tests;
