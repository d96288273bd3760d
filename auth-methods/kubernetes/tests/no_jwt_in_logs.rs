//! No JWT, nor any part of one, reaches the log. Its own test binary on purpose: the
//! subscriber is the process-wide default, installed before any log call site is hit, so
//! no other test running in parallel can race tracing's call-site cache.
//!
//! Denials and failures in both validation modes are logged with their reasons, and the
//! captured output is searched for every token involved.

// Test code: its helpers may fail loudly (clippy only exempts `#[test]` functions themselves).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lessor_auth_kubernetes::{InCluster, KubernetesAuth};
use lessor_sdk::testing::{MemoryMountStorage, RecordingIntents};
use lessor_sdk::{
    AuthMethod, Clock, EngineContext, ManualClock, Map, Operation, Request, RoutePattern,
    SystemClock,
};
use lessor_test_support::kubernetes::{FakeKubernetes, TokenSpec};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn call(
    auth: &KubernetesAuth,
    ctx: &EngineContext,
    route: &'static str,
    data: Value,
) -> Result<lessor_sdk::Response, lessor_sdk::EngineError> {
    let path = route.replace(":name", "app");
    let Value::Object(data) = data else {
        panic!("data must be an object")
    };
    let request = Request {
        id: "test".into(),
        operation: Operation::Update,
        route,
        params: RoutePattern::new(route).matches(&path).unwrap(),
        path,
        data,
        client: None,
        mount_path: ctx.mount_path.clone(),
    };
    auth.handle(ctx, request).await
}

#[tokio::test]
async fn jwts_never_reach_the_log() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish(),
    )
    .unwrap();

    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let fake = FakeKubernetes::start_with_clock(clock.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut tokens = vec![fake.reviewer_token()];
    let configs = [
        json!({
            "kubernetes_host": fake.url(),
            "kubernetes_ca_cert": fake.ca_pem(),
            "token_reviewer_jwt": fake.reviewer_token(),
        }),
        json!({"validation": "local", "jwks_url": fake.jwks_url(), "jwks_ca_cert": fake.ca_pem()}),
    ];
    for (index, config) in configs.into_iter().enumerate() {
        fake.set_down(false);
        let auth = KubernetesAuth::with_in_cluster(InCluster {
            host: None,
            ca_cert_path: dir.path().join("absent"),
            token_path: dir.path().join("absent"),
        });
        let ctx = EngineContext {
            storage: Arc::new(MemoryMountStorage::default()),
            clock: clock.clone(),
            leases: Arc::new(RecordingIntents::default()),
            mount_path: "auth/kubernetes/".into(),
            default_lease_ttl: Duration::from_secs(3600),
            max_lease_ttl: Duration::from_secs(86400),
            options: Map::new(),
        };
        call(&auth, &ctx, "config", config).await.unwrap();
        call(
            &auth,
            &ctx,
            "role/:name",
            json!({
                "bound_service_account_names": ["web"],
                "bound_service_account_namespaces": ["apps"],
                "audience": "lessor",
            }),
        )
        .await
        .unwrap();
        let good = TokenSpec {
            audiences: vec!["lessor".into()],
            ..TokenSpec::new("apps", "web")
        };
        let mut attempts = vec![
            fake.mint(&good),
            fake.mint(&TokenSpec {
                namespace: "other".into(),
                ..good.clone()
            }),
            fake.mint(&TokenSpec {
                service_account: "db".into(),
                ..good.clone()
            }),
            fake.mint(&TokenSpec {
                expires_in: -300,
                ..good.clone()
            }),
            fake.mint(&TokenSpec::new("apps", "web")),
            fake.mint_with_foreign_key(&good),
            fake.mint_unsigned(&good),
            fake.mint_hs256_with_public_key(&good),
        ];
        let mut outcomes = Vec::new();
        for jwt in &attempts {
            let login = call(&auth, &ctx, "login", json!({"role": "app", "jwt": jwt})).await;
            outcomes.push(login.is_ok());
        }
        assert!(outcomes[0], "the good token logs in");
        assert!(
            outcomes[1..].iter().all(|ok| !ok),
            "every other token is refused"
        );

        fake.set_down(true);
        clock.advance(Duration::from_secs(3700)); // past the JWKS cache's age, too
        let late = fake.mint(&good);
        let down = call(&auth, &ctx, "login", json!({"role": "app", "jwt": late})).await;
        // token_review cannot pass without the API server; local mode keeps verifying with
        // the cached (stale) JWKS and logs the failed refresh.
        assert_eq!(down.is_ok(), index == 1);
        attempts.push(late);
        tokens.extend(attempts);
    }

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    // The search below means something only if the reasons were logged.
    for expected in [
        "kubernetes login denied",
        "kubernetes login failed",
        "namespace \"other\" is not in the role's bound_service_account_namespaces",
        "service account \"db\" is not in the role's bound_service_account_names",
        "algorithm \"none\" is not accepted",
        "algorithm \"HS256\" is not accepted",
        "do not include the role's \"lessor\"",
        "the token expired",
        "the API server did not authenticate the token",
        "JWKS refresh failed; keeping the cached keys",
    ] {
        assert!(log.contains(expected), "the log lacks {expected:?}:\n{log}");
    }
    for token in &tokens {
        for part in token.split('.').filter(|part| part.len() > 8) {
            assert!(
                !log.contains(part),
                "the log contains part of a JWT:\n{log}"
            );
        }
    }
}
