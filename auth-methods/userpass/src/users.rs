//! User management: create, update, read, list, delete, password and policy changes.
//!
//! Hashing happens before the write lock is taken, so an operator setting a password never
//! holds up other writes for the length of an argon2 run.

use lessor_sdk::{EngineContext, EngineError, Map, Request, Response};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::UserpassError;
use crate::method::{UserpassAuth, username_param};
use crate::password::Password;
use crate::token_settings::{PoliciesBody, TokenFieldsBody, TokenSettings};
use crate::user::{self, UserEntry};

/// The body of `users/:username/password` once the password is taken out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChangeBody {
    #[serde(default, rename = "username")]
    _username: Option<IgnoredAny>,
}

impl UserpassAuth {
    pub(crate) async fn list_users(&self, ctx: &EngineContext) -> Result<Response, EngineError> {
        let names = user::list(ctx.storage.as_ref()).await?;
        // Vault answers an empty list with 404.
        if names.is_empty() {
            return Err(EngineError::NotFound);
        }
        Ok(Response::list(names))
    }

    pub(crate) async fn read_user(
        &self,
        ctx: &EngineContext,
        request: &Request,
    ) -> Result<Response, EngineError> {
        let username = username_param(request)?;
        let entry = user::load(ctx.storage.as_ref(), &username)
            .await?
            .ok_or(EngineError::NotFound)?;
        // Only token settings: neither the password nor its hash ever leaves the mount.
        Response::from_serialize(&entry.token.to_read_data())
    }

    /// Creates the user (a password is required) or updates the fields the body names.
    pub(crate) async fn write_user(
        &self,
        ctx: &EngineContext,
        mut request: Request,
    ) -> Result<Response, EngineError> {
        let username = username_param(&request)?;
        let password = Password::take(&mut request.data)?;
        refuse_password_hash(&request.data)?;
        let body: TokenFieldsBody = request.decode()?;
        let new_hash = match password {
            Some(password) => {
                password.check_policy()?;
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };

        let _guard = self.writes.lock().await;
        let storage = ctx.storage.as_ref();
        let entry = match (user::load(storage, &username).await?, new_hash) {
            (Some(mut entry), new_hash) => {
                body.apply(&mut entry.token)?;
                if let Some(hash) = new_hash {
                    entry.password_hash = hash;
                }
                entry
            }
            (None, Some(hash)) => {
                let mut token = TokenSettings::default();
                body.apply(&mut token)?;
                UserEntry {
                    password_hash: hash,
                    token,
                }
            }
            (None, None) => {
                return Err(UserpassError::InvalidPassword(
                    "password is required when creating a user",
                )
                .into());
            }
        };
        user::save(storage, &username, &entry).await?;
        tracing::info!(mount = %ctx.mount_path, %username, "userpass user written");
        Ok(Response::no_content())
    }

    pub(crate) async fn delete_user(
        &self,
        ctx: &EngineContext,
        request: &Request,
    ) -> Result<Response, EngineError> {
        let username = username_param(request)?;
        let _guard = self.writes.lock().await;
        user::delete(ctx.storage.as_ref(), &username).await?;
        tracing::info!(mount = %ctx.mount_path, %username, "userpass user deleted");
        Ok(Response::no_content())
    }

    pub(crate) async fn change_password(
        &self,
        ctx: &EngineContext,
        mut request: Request,
    ) -> Result<Response, EngineError> {
        let username = username_param(&request)?;
        let password = Password::take(&mut request.data)?
            .ok_or(UserpassError::InvalidPassword("password is required"))?;
        refuse_password_hash(&request.data)?;
        let _body: PasswordChangeBody = request.decode()?;
        password.check_policy()?;
        let storage = ctx.storage.as_ref();
        // Checked before hashing so a typo in the name costs no argon2 run.
        if user::load(storage, &username).await?.is_none() {
            return Err(EngineError::NotFound);
        }
        let hash = self.hasher.hash(password).await?;

        let _guard = self.writes.lock().await;
        let mut entry = user::load(storage, &username)
            .await?
            .ok_or(EngineError::NotFound)?;
        entry.password_hash = hash;
        user::save(storage, &username, &entry).await?;
        tracing::info!(mount = %ctx.mount_path, %username, "userpass password changed");
        Ok(Response::no_content())
    }

    pub(crate) async fn change_policies(
        &self,
        ctx: &EngineContext,
        request: &Request,
    ) -> Result<Response, EngineError> {
        let username = username_param(request)?;
        let body: PoliciesBody = request.decode()?;
        let policies = body.into_policies()?;

        let _guard = self.writes.lock().await;
        let storage = ctx.storage.as_ref();
        let mut entry = user::load(storage, &username)
            .await?
            .ok_or(EngineError::NotFound)?;
        entry.token.policies = policies;
        user::save(storage, &username, &entry).await?;
        tracing::info!(mount = %ctx.mount_path, %username, "userpass policies changed");
        Ok(Response::no_content())
    }
}

/// Vault 1.17 lets operators import bcrypt hashes; Lessor stores argon2id only.
fn refuse_password_hash(data: &Map) -> Result<(), EngineError> {
    if data.contains_key("password_hash") {
        return Err(EngineError::invalid(
            "password_hash is not supported: set a password and it is hashed with argon2id",
        ));
    }
    Ok(())
}
