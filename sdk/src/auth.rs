//! The auth-method contract. An auth method verifies some proof of identity (a JWT, a
//! password) and answers with an [`AuthGrant`]; the broker turns the grant into a token.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{EngineContext, EngineError, Request, Response, Route};

/// The identity and token settings an auth method grants on a successful login.
#[derive(Debug, Clone, Default)]
pub struct AuthGrant {
    pub policies: Vec<String>,
    /// Non-secret facts about the identity (e.g. service account name), shown on lookup.
    pub metadata: BTreeMap<String, String>,
    pub display_name: String,
    pub ttl: Duration,
    pub max_ttl: Option<Duration>,
    /// A periodic token renews by `period` forever (within no max TTL).
    pub period: Option<Duration>,
    pub renewable: bool,
    /// 0 means unlimited.
    pub num_uses: u32,
    /// Opaque data the method needs at renewal (e.g. which role issued the token). Stored
    /// encrypted with the token; never shown to clients.
    pub internal: serde_json::Value,
}

/// A token minted by this method, handed back to the method when the client renews it.
#[derive(Debug, Clone)]
pub struct AuthRenewal {
    pub policies: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub internal: serde_json::Value,
    pub issue_time: OffsetDateTime,
    pub increment: Option<Duration>,
}

/// An auth method mounted under `auth/`.
#[async_trait]
pub trait AuthMethod: Send + Sync + std::fmt::Debug {
    /// The paths this method serves; login routes are marked [`Route::unauthenticated`].
    fn routes(&self) -> Vec<Route>;

    async fn initialize(&self, _ctx: &EngineContext) -> Result<(), EngineError> {
        Ok(())
    }

    async fn exists(&self, _ctx: &EngineContext, _request: &Request) -> Result<bool, EngineError> {
        Ok(true)
    }

    /// Handles configuration paths and logins. A login answers with `auth` set.
    async fn handle(&self, ctx: &EngineContext, request: Request) -> Result<Response, EngineError>;

    /// Decides whether a token this method minted may be renewed, and with which settings
    /// (e.g. refuses when the role was deleted, caps at the role's max TTL).
    async fn renew(
        &self,
        ctx: &EngineContext,
        renewal: &AuthRenewal,
    ) -> Result<AuthGrant, EngineError>;
}
