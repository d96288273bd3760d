//! Engine-level tests: a [`KubernetesAuth`] over in-memory mount storage, talking to the
//! HTTPS Kubernetes API-server stand-in from `lessor-test-support` through the same `kube`
//! client and HTTP code it uses in a cluster. The stand-in and the method share one
//! [`ManualClock`], started at the real time (TLS certificates are checked against it), so
//! tests can move time for both.

mod config_role;
mod local_mode;
mod token_review_mode;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lessor_sdk::testing::{MemoryMountStorage, RecordingIntents};
use lessor_sdk::{
    AuthGrant, AuthMethod, AuthRenewal, Clock, EngineContext, EngineError, ManualClock, Map,
    Operation, Request, Response, RoutePattern, SystemClock,
};
use lessor_test_support::kubernetes::{FakeKubernetes, TokenSpec};
use serde_json::{Value, json};

use crate::{InCluster, KubernetesAuth};

pub(crate) struct Harness {
    pub auth: KubernetesAuth,
    pub ctx: EngineContext,
    pub clock: Arc<ManualClock>,
    pub fake: FakeKubernetes,
    pub dir: tempfile::TempDir,
}

/// In-cluster defaults pointing at files that do not exist, so only `config` counts.
fn nowhere(dir: &tempfile::TempDir) -> InCluster {
    InCluster {
        host: None,
        ca_cert_path: dir.path().join("absent-ca.crt"),
        token_path: dir.path().join("absent-token"),
    }
}

impl Harness {
    /// A running stand-in and an unconfigured mount.
    pub async fn bare() -> Self {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let fake = FakeKubernetes::start_with_clock(clock.clone())
            .await
            .expect("the API-server stand-in starts");
        let dir = tempfile::tempdir().unwrap();
        let auth = KubernetesAuth::with_in_cluster(nowhere(&dir));
        let ctx = EngineContext {
            storage: Arc::new(MemoryMountStorage::default()),
            clock: clock.clone(),
            leases: Arc::new(RecordingIntents::default()),
            mount_path: "auth/kubernetes/".into(),
            default_lease_ttl: Duration::from_secs(3600),
            max_lease_ttl: Duration::from_secs(86400),
            options: Map::new(),
        };
        Self {
            auth,
            ctx,
            clock,
            fake,
            dir,
        }
    }

    /// token_review mode against the stand-in with its reviewer token, and role `app`
    /// binding `apps/web`.
    pub async fn token_review() -> Self {
        let h = Self::bare().await;
        h.write_config(json!({
            "kubernetes_host": h.fake.url(),
            "kubernetes_ca_cert": h.fake.ca_pem(),
            "token_reviewer_jwt": h.fake.reviewer_token(),
        }))
        .await;
        h.write_role("app", json!({})).await;
        h
    }

    /// local mode verifying against the stand-in's JWKS, and role `app` binding `apps/web`.
    pub async fn local() -> Self {
        let h = Self::bare().await;
        h.write_config(json!({
            "validation": "local",
            "jwks_url": h.fake.jwks_url(),
            "jwks_ca_cert": h.fake.ca_pem(),
        }))
        .await;
        h.write_role("app", json!({})).await;
        h
    }

    pub async fn call(
        &self,
        operation: Operation,
        route: &'static str,
        path: &str,
        data: Value,
    ) -> Result<Response, EngineError> {
        let params = RoutePattern::new(route)
            .matches(path)
            .unwrap_or_else(|| panic!("{path} does not match {route}"));
        let Value::Object(data) = data else {
            panic!("request data must be an object")
        };
        let request = Request {
            id: "test".into(),
            operation,
            route,
            path: path.into(),
            params,
            data,
            client: None,
            mount_path: self.ctx.mount_path.clone(),
        };
        self.auth.handle(&self.ctx, request).await
    }

    pub async fn write_config(&self, config: Value) {
        self.call(Operation::Update, "config", "config", config)
            .await
            .expect("config is accepted");
    }

    /// Writes a role binding `apps/web` with policy `app-read`, overridden by `extra`.
    pub async fn write_role(&self, name: &str, extra: Value) {
        let mut body = json!({
            "bound_service_account_names": ["web"],
            "bound_service_account_namespaces": ["apps"],
            "token_policies": ["app-read"],
            "token_ttl": "1h",
            "token_max_ttl": "4h",
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        self.call(
            Operation::Update,
            "role/:name",
            &format!("role/{name}"),
            body,
        )
        .await
        .expect("role is accepted");
    }

    pub async fn login(&self, role: &str, jwt: &str) -> Result<AuthGrant, EngineError> {
        let response = self
            .call(
                Operation::Update,
                "login",
                "login",
                json!({"role": role, "jwt": jwt}),
            )
            .await?;
        Ok(response.auth.expect("a login answers with auth"))
    }

    /// A good token for `apps/web`.
    pub fn web_token(&self) -> String {
        self.fake.mint(&TokenSpec::new("apps", "web"))
    }

    pub async fn renew(&self, grant: &AuthGrant) -> Result<AuthGrant, EngineError> {
        let renewal = AuthRenewal {
            policies: grant.policies.clone(),
            metadata: grant.metadata.clone(),
            internal: grant.internal.clone(),
            issue_time: self.clock.now(),
            increment: None,
        };
        self.auth.renew(&self.ctx, &renewal).await
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[track_caller]
pub(crate) fn assert_denied(result: Result<AuthGrant, EngineError>) {
    match result {
        Err(EngineError::PermissionDenied) => {}
        Err(other) => panic!("expected permission denied, got {other:?}"),
        Ok(grant) => panic!(
            "expected permission denied, got a grant for {:?}",
            grant.metadata
        ),
    }
}

#[track_caller]
pub(crate) fn assert_upstream(result: Result<AuthGrant, EngineError>) {
    match result {
        Err(EngineError::Upstream(_)) => {}
        Err(other) => panic!("expected an upstream error, got {other:?}"),
        Ok(grant) => panic!(
            "expected an upstream error, got a grant for {:?}",
            grant.metadata
        ),
    }
}
