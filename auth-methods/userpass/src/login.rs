//! Login and token renewal: the password check and the grant it earns.
//!
//! A failed login answers a bare `PermissionDenied` whether the user is unknown or the
//! password is wrong, after the same argon2 work in both cases (see `hashing`); the log says
//! "invalid username or password" with the precise reason for operators, never the password.

use std::collections::{BTreeMap, BTreeSet};

use lessor_sdk::{AuthGrant, AuthRenewal, EngineContext, EngineError, Request, Response};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::error::UserpassError;
use crate::method::{UserpassAuth, username_param};
use crate::password::Password;
use crate::user::{self, UserEntry};
use crate::username::Username;

/// The body of `login/:username` once the password is taken out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    #[serde(default, rename = "username")]
    _username: Option<IgnoredAny>,
}

/// What a login token carries for its renewal (`AuthGrant::internal`).
#[derive(Debug, Deserialize)]
struct Internal {
    username: String,
}

impl UserpassAuth {
    pub(crate) async fn login(
        &self,
        ctx: &EngineContext,
        mut request: Request,
    ) -> Result<Response, EngineError> {
        let username = username_param(&request)?;
        let password = match Password::take(&mut request.data)? {
            Some(password) if !password.is_empty() => password,
            _ => return Err(UserpassError::InvalidField("missing password".into()).into()),
        };
        let _body: LoginBody = request.decode()?;

        let storage = ctx.storage.as_ref();
        let entry = user::load(storage, &username).await?;
        let verdict = self
            .hasher
            .verify(
                password,
                entry.as_ref().map(|entry| entry.password_hash.as_str()),
            )
            .await?;
        let reason = if entry.is_some() {
            "wrong password"
        } else {
            "unknown user"
        };
        let Some(entry) = entry.filter(|_| verdict.matched) else {
            tracing::warn!(
                mount = %ctx.mount_path,
                %username,
                reason,
                "userpass login failed: invalid username or password"
            );
            return Err(EngineError::PermissionDenied);
        };
        if let Some(rehashed) = verdict.rehashed {
            self.upgrade_hash(ctx, &username, &entry, rehashed).await;
        }
        tracing::info!(mount = %ctx.mount_path, %username, "userpass login succeeded");
        Ok(Response {
            auth: Some(grant(&username, &entry)),
            ..Response::default()
        })
    }

    /// Stores a hash made with the current parameters, unless the password changed meanwhile.
    /// Best effort: the login already succeeded and the old hash still verifies.
    async fn upgrade_hash(
        &self,
        ctx: &EngineContext,
        username: &Username,
        seen: &UserEntry,
        rehashed: String,
    ) {
        let _guard = self.writes.lock().await;
        let storage = ctx.storage.as_ref();
        let result = match user::load(storage, username).await {
            Ok(Some(mut current)) if current.password_hash == seen.password_hash => {
                current.password_hash = rehashed;
                user::save(storage, username, &current).await
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                tracing::info!(%username, "userpass password hash upgraded to current parameters")
            }
            Err(error) => {
                tracing::warn!(%username, %error, "userpass password hash upgrade failed")
            }
        }
    }

    /// A login token may be renewed while its user exists with the same policies; the TTLs
    /// are the user's current ones.
    pub(crate) async fn renew_login(
        &self,
        ctx: &EngineContext,
        renewal: &AuthRenewal,
    ) -> Result<AuthGrant, EngineError> {
        let internal: Internal = serde_json::from_value(renewal.internal.clone()).map_err(|_| {
            tracing::warn!(mount = %ctx.mount_path, "userpass renewal refused: token carries no username");
            EngineError::PermissionDenied
        })?;
        let username = Username::parse(&internal.username).map_err(|_| {
            tracing::warn!(mount = %ctx.mount_path, "userpass renewal refused: token carries an invalid username");
            EngineError::PermissionDenied
        })?;
        let Some(entry) = user::load(ctx.storage.as_ref(), &username).await? else {
            tracing::warn!(mount = %ctx.mount_path, %username, "userpass renewal refused: user no longer exists");
            return Err(EngineError::PermissionDenied);
        };
        // Like Vault: a token whose user's policies changed must log in again to get them.
        if policy_set(&renewal.policies) != policy_set(&entry.token.policies) {
            tracing::warn!(mount = %ctx.mount_path, %username, "userpass renewal refused: policies have changed");
            return Err(EngineError::PermissionDenied);
        }
        Ok(grant(&username, &entry))
    }
}

/// Policies compared the way Vault does for renewal: `default`, which the token store adds
/// on its own, does not count.
fn policy_set(policies: &[String]) -> BTreeSet<&str> {
    policies
        .iter()
        .map(String::as_str)
        .filter(|policy| *policy != "default")
        .collect()
}

/// The grant for a user: their policies and token settings, named after them. The broker
/// prefixes the display name with the mount (`userpass-alice`).
fn grant(username: &Username, entry: &UserEntry) -> AuthGrant {
    let settings = &entry.token;
    let nonzero = |ttl: lessor_sdk::Ttl| (!ttl.is_zero()).then_some(ttl.0);
    AuthGrant {
        policies: settings.policies.clone(),
        metadata: BTreeMap::from([("username".to_string(), username.to_string())]),
        display_name: username.to_string(),
        ttl: settings.ttl.0,
        max_ttl: nonzero(settings.max_ttl),
        period: nonzero(settings.period),
        renewable: true,
        num_uses: settings.num_uses,
        internal: json!({ "username": username.as_str() }),
    }
}
