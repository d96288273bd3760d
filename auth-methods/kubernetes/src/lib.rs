//! Kubernetes service-account authentication, speaking Vault's `auth/kubernetes` API.
//!
//! A workload logs in with its service-account JWT and a role name; [`KubernetesAuth`]
//! establishes who the token belongs to and answers with an [`AuthGrant`] carrying the
//! role's policies and token settings. Two validation modes, chosen in `config`:
//!
//! - **token_review** (default): a real `authentication.k8s.io/v1` TokenReview through
//!   `kube::Client` (`review`), with the role's audience; sees deleted pods and accounts.
//! - **local**: the signature is verified here with `jsonwebtoken` against PEM keys or the
//!   issuer's JWKS (`local`, `keys`, `jwks`); no round trip, algorithms pinned.
//!
//! | route         | operations                     | module   |
//! |---------------|--------------------------------|----------|
//! | `config`      | read, update                   | `config` |
//! | `role`        | list                           | `role`   |
//! | `role/:name`  | read, create, update, delete   | `role`   |
//! | `login`       | update (unauthenticated)       | `login`  |
//!
//! Failed logins are a generic 403 to the client and a precise reason in the log; an API
//! server or JWKS endpoint that cannot be reached is an upstream (5xx) error, never a pass.
//! Known gaps: `token_bound_cidrs` is stored but not enforced (the SDK request carries no
//! client address); `bound_service_account_namespace_selector` is refused.

mod claims;
mod config;
mod error;
mod fields;
mod in_cluster;
mod jwks;
mod keys;
mod local;
mod login;
mod mount_state;
mod review;
mod reviewer_token;
mod role;
mod secret;

use async_trait::async_trait;
use lessor_sdk::{
    AuthGrant, AuthMethod, AuthRenewal, EngineContext, EngineError, Operation, Request, Response,
    Route,
};

pub use crate::in_cluster::InCluster;

use crate::error::KubeAuthError;
use crate::mount_state::MountStates;

const CONFIG: &str = "config";
const ROLES: &str = "role";
const ROLE: &str = "role/:name";
const LOGIN: &str = "login";

/// The `kubernetes` auth method. One value may serve any number of mounts: configuration and
/// roles live in each mount's storage; the value caches what it derives from them (parsed
/// keys, the JWKS, the API-server client) per mount.
#[derive(Debug)]
pub struct KubernetesAuth {
    in_cluster: InCluster,
    states: MountStates,
}

impl Default for KubernetesAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl KubernetesAuth {
    /// Uses the pod's API server, CA and service-account token for whatever `config`
    /// leaves empty.
    pub fn new() -> Self {
        Self::with_in_cluster(InCluster::from_env())
    }

    /// With explicit in-cluster defaults (tests, or a broker running beside the cluster).
    pub fn with_in_cluster(in_cluster: InCluster) -> Self {
        Self {
            in_cluster,
            states: MountStates::default(),
        }
    }

    async fn dispatch(
        &self,
        ctx: &EngineContext,
        request: &Request,
    ) -> Result<Response, KubeAuthError> {
        use Operation::{Create, Delete, List, Read, Update};
        match (request.route, request.operation) {
            (CONFIG, Read) => config::read(ctx).await,
            (CONFIG, Update) => config::write(ctx, request).await,
            (ROLES, List) => role::list(ctx).await,
            (ROLE, Read) => role::read(ctx, request).await,
            (ROLE, Create | Update) => role::write(ctx, request).await,
            (ROLE, Delete) => role::delete(ctx, request).await,
            (LOGIN, Update) => login::login(&self.states, &self.in_cluster, ctx, request).await,
            _ => Err(KubeAuthError::Internal(format!(
                "no handler for {} on {:?}",
                request.operation, request.route
            ))),
        }
    }
}

#[async_trait]
impl AuthMethod for KubernetesAuth {
    fn routes(&self) -> Vec<Route> {
        use Operation::{Create, Delete, List, Read, Update};
        vec![
            Route::new(CONFIG, &[Read, Update]),
            Route::new(ROLES, &[List]),
            Route::new(ROLE, &[Read, Create, Update, Delete]),
            Route::new(LOGIN, &[Update]).unauthenticated(),
        ]
    }

    async fn exists(&self, ctx: &EngineContext, request: &Request) -> Result<bool, EngineError> {
        match request.route {
            ROLE => Ok(role::exists(ctx, request).await?),
            _ => Ok(true),
        }
    }

    async fn handle(&self, ctx: &EngineContext, request: Request) -> Result<Response, EngineError> {
        Ok(self.dispatch(ctx, &request).await?)
    }

    async fn renew(
        &self,
        ctx: &EngineContext,
        renewal: &AuthRenewal,
    ) -> Result<AuthGrant, EngineError> {
        login::renew(ctx, renewal).await.map_err(|error| {
            tracing::warn!(mount = %ctx.mount_path, %error, "kubernetes token renewal refused");
            error.into()
        })
    }
}

#[cfg(test)]
mod tests;
