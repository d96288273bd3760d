//! The `apikey` secret engine: leased API keys, and a `verify` endpoint that tells the
//! services receiving them whether a key is live.
//!
//! A workload asks for a key under a lease instead of sharing a long-lived one; the key dies
//! when the lease ends (revocation deletes its record) or the instant its expiry passes
//! (`verify` checks the record's own expiry). Only an HMAC of each key's secret part is
//! stored, under a per-mount key; the key itself is shown once.
//!
//! [`ApiKeyEngine`] serves these routes (relative to the mount):
//!
//! | route              | operations                    | module   |
//! |--------------------|-------------------------------|----------|
//! | `roles`            | list                          | `role`   |
//! | `roles/:name`      | read, create, update, delete  | `role`   |
//! | `roles/:name/keys` | list                          | `creds`  |
//! | `creds/:role`      | read, update                  | `creds`  |
//! | `keys/:key_id`     | read                          | `creds`  |
//! | `verify`           | update                        | `verify` |
//!
//! Storage layout: `config/hmac-key` (`mount_secret`), `roles/<name>` (`role`),
//! `keys/<key_id>` and `role-keys/<role>/<key_id>` (`record`). The key format lives in
//! `key` (with `base62` and `checksum`).
//!
//! Not here on purpose: deleting a key by id (revoke its lease instead, so the lease index
//! and the key agree), and a slow password hash (keys carry ≥ 256 bits of entropy).

mod base62;
mod checksum;
mod creds;
mod error;
mod fields;
mod key;
mod mount_secret;
mod record;
mod role;
mod verify;

use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::{
    EngineContext, EngineError, LeasedSecret, Operation, RenewOutcome, Request, Response, Route,
    SecretEngine,
};

use crate::error::ApiKeyError;
use crate::mount_secret::MountSecrets;

const ROLES_LIST: &str = "roles";
const ROLE: &str = "roles/:name";
const ROLE_KEYS: &str = "roles/:name/keys";
const CREDS: &str = "creds/:role";
const KEY: &str = "keys/:key_id";
const VERIFY: &str = "verify";

/// The API-key secret engine. Roles and key records live in each mount's storage; the
/// engine holds only each mount's HMAC key in memory (zeroized when dropped).
#[derive(Debug, Default)]
pub struct ApiKeyEngine {
    secrets: MountSecrets,
}

impl ApiKeyEngine {
    pub fn new() -> Self {
        Self::default()
    }

    async fn dispatch(
        &self,
        ctx: &EngineContext,
        request: &Request,
    ) -> Result<Response, ApiKeyError> {
        use Operation::{Create, Delete, List, Read, Update};
        match (request.route, request.operation) {
            (ROLES_LIST, List) => role::list(ctx).await,
            (ROLE, Read) => role::read(ctx, request).await,
            (ROLE, Create | Update) => role::write(ctx, request).await,
            (ROLE, Delete) => role::delete(ctx, request).await,
            (ROLE_KEYS, List) => creds::list_keys(ctx, request).await,
            (CREDS, Read | Update) => creds::issue(&self.secrets, ctx, request).await,
            (KEY, Read) => creds::read_key(ctx, request).await,
            (VERIFY, Update) => verify::verify(&self.secrets, ctx, request).await,
            _ => Err(ApiKeyError::Internal(format!(
                "no handler for {} on {:?}",
                request.operation, request.route
            ))),
        }
    }
}

#[async_trait]
impl SecretEngine for ApiKeyEngine {
    fn routes(&self) -> Vec<Route> {
        use Operation::{Create, Delete, List, Read, Update};
        vec![
            Route::new(ROLES_LIST, &[List]),
            Route::new(ROLE, &[Read, Create, Update, Delete]),
            Route::new(ROLE_KEYS, &[List]),
            Route::new(CREDS, &[Read, Update]),
            Route::new(KEY, &[Read]),
            Route::new(VERIFY, &[Update]),
        ]
    }

    /// Creates the mount's HMAC key up front, so the first requests do not race to.
    async fn initialize(&self, ctx: &EngineContext) -> Result<(), EngineError> {
        Ok(self.secrets.reload(ctx).await?)
    }

    async fn exists(&self, ctx: &EngineContext, request: &Request) -> Result<bool, EngineError> {
        match request.route {
            ROLE => Ok(ctx
                .storage
                .get(&role::storage_key(request.params.get("name")))
                .await?
                .is_some()),
            _ => Ok(true),
        }
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
        Ok(creds::renew(ctx, secret, increment).await?)
    }

    async fn revoke(&self, ctx: &EngineContext, secret: &LeasedSecret) -> Result<(), EngineError> {
        check_kind(secret)?;
        Ok(creds::revoke(ctx, secret).await?)
    }
}

fn check_kind(secret: &LeasedSecret) -> Result<(), EngineError> {
    if secret.kind == creds::KIND {
        Ok(())
    } else {
        Err(EngineError::Internal(format!(
            "the apikey engine issues no leases of kind {:?}",
            secret.kind
        )))
    }
}

#[cfg(test)]
mod tests;
