//! What the broker plugs into the token store: lease revocation when a token goes away, and
//! the auth method's say when a token it minted is renewed. The token store knows neither
//! leases nor mounts; these hooks keep it that way.

use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::{AuthGrant, EngineError};

use crate::TokenEntry;

/// Callbacks into the broker. Both have do-nothing defaults.
#[async_trait]
pub trait TokenHooks: Send + Sync + std::fmt::Debug {
    /// Called before a token is deleted (children before parents). Revoke the token's
    /// leases here. An error keeps the token, and therefore its ancestors, in storage so a
    /// retried revocation finds them again; it must be safe to call more than once.
    async fn token_revoking(&self, _entry: &TokenEntry) -> Result<(), EngineError> {
        Ok(())
    }

    /// Called when a token minted by an auth-method login is renewed: route to the
    /// method's `AuthMethod::renew`. `Ok(None)` renews under the limits stored with the
    /// token; an error refuses the renewal (e.g. the role was deleted).
    async fn login_renewal(
        &self,
        _entry: &TokenEntry,
        _increment: Option<Duration>,
    ) -> Result<Option<AuthGrant>, EngineError> {
        Ok(None)
    }
}

/// The hooks used until the broker installs its own.
#[derive(Debug, Default)]
pub(crate) struct NoHooks;

impl TokenHooks for NoHooks {}
