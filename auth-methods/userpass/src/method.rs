//! [`UserpassAuth`]: the routes of the userpass auth method and their dispatch.
//!
//! | route                      | operations                    | handler            |
//! |----------------------------|-------------------------------|--------------------|
//! | `users`                    | list                          | `users::list`      |
//! | `users/:username`          | read, create, update, delete  | `users`            |
//! | `users/:username/password` | update                        | `users`            |
//! | `users/:username/policies` | update                        | `users`            |
//! | `login/:username`          | update (no token needed)      | `login`            |
//!
//! Token renewal goes through [`AuthMethod::renew`] (in `login`).

use async_trait::async_trait;
use lessor_sdk::{
    AuthGrant, AuthMethod, AuthRenewal, EngineContext, EngineError, Operation, Request, Response,
    Route,
};
use tokio::sync::Mutex;

use crate::hashing::Hasher;
use crate::user;
use crate::username::Username;

pub(crate) const USERS: &str = "users";
pub(crate) const USER: &str = "users/:username";
pub(crate) const USER_PASSWORD: &str = "users/:username/password";
pub(crate) const USER_POLICIES: &str = "users/:username/policies";
pub(crate) const LOGIN: &str = "login/:username";

/// The userpass auth method (mount type `userpass`). One value may serve any number of
/// mounts: users live in each mount's storage; the value holds only the hasher and a lock.
#[derive(Debug)]
pub struct UserpassAuth {
    pub(crate) hasher: Hasher,
    /// Serialises read-modify-write of user records so concurrent updates do not lose
    /// fields. Never held while hashing.
    pub(crate) writes: Mutex<()>,
}

impl UserpassAuth {
    /// The mount type this method is registered under.
    pub const MOUNT_TYPE: &'static str = "userpass";

    /// A userpass method hashing with argon2id at OWASP's parameters (m=19 MiB, t=2, p=1).
    pub fn new() -> Self {
        Self::with_hasher(Hasher::recommended())
    }

    pub(crate) fn with_hasher(hasher: Hasher) -> Self {
        Self {
            hasher,
            writes: Mutex::new(()),
        }
    }
}

impl Default for UserpassAuth {
    fn default() -> Self {
        Self::new()
    }
}

/// The `:username` capture, validated and lower-cased.
pub(crate) fn username_param(request: &Request) -> Result<Username, EngineError> {
    Ok(Username::parse(request.params.get("username"))?)
}

#[async_trait]
impl AuthMethod for UserpassAuth {
    fn routes(&self) -> Vec<Route> {
        vec![
            Route::new(USERS, &[Operation::List]),
            Route::new(
                USER,
                &[
                    Operation::Read,
                    Operation::Create,
                    Operation::Update,
                    Operation::Delete,
                ],
            ),
            Route::new(USER_PASSWORD, &[Operation::Update]),
            Route::new(USER_POLICIES, &[Operation::Update]),
            Route::new(LOGIN, &[Operation::Update]).unauthenticated(),
        ]
    }

    async fn exists(&self, ctx: &EngineContext, request: &Request) -> Result<bool, EngineError> {
        if request.route != USER {
            return Ok(true);
        }
        let username = username_param(request)?;
        Ok(user::load(ctx.storage.as_ref(), &username).await?.is_some())
    }

    async fn handle(&self, ctx: &EngineContext, request: Request) -> Result<Response, EngineError> {
        match (request.route, request.operation) {
            (USERS, Operation::List) => self.list_users(ctx).await,
            (USER, Operation::Read) => self.read_user(ctx, &request).await,
            (USER, Operation::Create | Operation::Update) => self.write_user(ctx, request).await,
            (USER, Operation::Delete) => self.delete_user(ctx, &request).await,
            (USER_PASSWORD, Operation::Update) => self.change_password(ctx, request).await,
            (USER_POLICIES, Operation::Update) => self.change_policies(ctx, &request).await,
            (LOGIN, Operation::Update) => self.login(ctx, request).await,
            _ => Err(EngineError::UnsupportedOperation),
        }
    }

    async fn renew(
        &self,
        ctx: &EngineContext,
        renewal: &AuthRenewal,
    ) -> Result<AuthGrant, EngineError> {
        self.renew_login(ctx, renewal).await
    }
}

#[cfg(test)]
mod tests;
