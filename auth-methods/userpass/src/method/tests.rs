//! The userpass method end to end through its route table, on in-memory storage. Most tests
//! hash with tiny argon2 parameters so the debug build stays fast; the tests that check the
//! production parameters use [`UserpassAuth::new`].

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Params;
use lessor_sdk::testing::{MemoryMountStorage, RecordingIntents};
use lessor_sdk::{
    AuthMethod, AuthRenewal, EngineContext, EngineError, ManualClock, Map, MountStorage, Operation,
    Params as RouteParams, Request, Response, Route,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::*;

const PASSWORD: &str = "Tr0ub4dor&3-secret";

struct Harness {
    auth: UserpassAuth,
    ctx: EngineContext,
    storage: Arc<MemoryMountStorage>,
    routes: Vec<Route>,
}

fn fast_auth() -> UserpassAuth {
    UserpassAuth::with_hasher(Hasher::with_params(
        Params::new(64, 1, 1, Some(32)).unwrap(),
    ))
}

fn harness_with(auth: UserpassAuth, storage: Arc<MemoryMountStorage>) -> Harness {
    let ctx = EngineContext {
        storage: storage.clone(),
        clock: Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH)),
        leases: Arc::new(RecordingIntents::default()),
        mount_path: "auth/userpass/".into(),
        default_lease_ttl: Duration::from_secs(3600),
        max_lease_ttl: Duration::from_secs(86400),
        options: Map::new(),
    };
    let routes = auth.routes();
    Harness {
        auth,
        ctx,
        storage,
        routes,
    }
}

fn harness() -> Harness {
    harness_with(fast_auth(), Arc::new(MemoryMountStorage::default()))
}

fn object(value: Value) -> Map {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

impl Harness {
    /// Routes like the broker: the first route whose pattern matches and supports `op`.
    fn request(&self, operation: Operation, path: &str, body: Value) -> Request {
        let route = self
            .routes
            .iter()
            .find(|route| route.pattern.matches(path).is_some() && route.supports(operation))
            .unwrap_or_else(|| panic!("no route for {operation} {path}"));
        Request {
            id: "req".into(),
            operation,
            route: route.pattern.source(),
            path: path.into(),
            params: route.pattern.matches(path).unwrap(),
            data: object(body),
            client: None,
            mount_path: "auth/userpass/".into(),
        }
    }

    async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, EngineError> {
        self.auth
            .handle(&self.ctx, self.request(operation, path, body))
            .await
    }

    /// A POST: `Create` when the route supports it and the target does not exist yet.
    async fn write(&self, path: &str, body: Value) -> Result<Response, EngineError> {
        let mut request = self.request(Operation::Update, path, body);
        let route = self
            .routes
            .iter()
            .find(|route| route.pattern.source() == request.route)
            .unwrap();
        if route.supports(Operation::Create) && !self.auth.exists(&self.ctx, &request).await? {
            request.operation = Operation::Create;
        }
        self.auth.handle(&self.ctx, request).await
    }

    async fn read(&self, path: &str) -> Result<Response, EngineError> {
        self.call(Operation::Read, path, json!({})).await
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<lessor_sdk::AuthGrant, EngineError> {
        let response = self
            .call(
                Operation::Update,
                &format!("login/{username}"),
                json!({"password": password}),
            )
            .await?;
        assert!(response.data.is_none(), "a login returns no data");
        Ok(response.auth.expect("a successful login carries a grant"))
    }

    async fn create_alice(&self) {
        self.write(
            "users/alice",
            json!({"password": PASSWORD, "token_policies": "ops,dev", "token_ttl": "1h",
                   "token_max_ttl": "4h", "token_num_uses": 5}),
        )
        .await
        .unwrap();
    }

    async fn stored(&self, name: &str) -> Vec<u8> {
        self.storage
            .get(&format!("user/{name}"))
            .await
            .unwrap()
            .expect("user is stored")
    }
}

fn renewal(grant: &lessor_sdk::AuthGrant) -> AuthRenewal {
    AuthRenewal {
        policies: grant.policies.clone(),
        metadata: grant.metadata.clone(),
        internal: grant.internal.clone(),
        issue_time: OffsetDateTime::UNIX_EPOCH,
        increment: None,
    }
}

fn assert_invalid(result: Result<Response, EngineError>) -> String {
    match result {
        Err(EngineError::InvalidRequest(message)) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn only_login_is_unauthenticated() {
    let auth = fast_auth();
    for route in auth.routes() {
        assert_eq!(
            route.unauthenticated,
            route.pattern.source() == LOGIN,
            "{}",
            route.pattern.source()
        );
    }
}

#[tokio::test]
async fn create_read_list_delete() {
    let h = harness();
    let request = h.request(Operation::Update, "users/alice", json!({}));
    assert!(!h.auth.exists(&h.ctx, &request).await.unwrap());
    h.create_alice().await;
    assert!(h.auth.exists(&h.ctx, &request).await.unwrap());

    let data = h.read("users/alice").await.unwrap().data.unwrap();
    assert_eq!(data["token_policies"], json!(["dev", "ops"]));
    assert_eq!(data["policies"], json!(["dev", "ops"]));
    assert_eq!(data["token_ttl"], json!(3600));
    assert_eq!(data["token_max_ttl"], json!(14400));
    assert_eq!(data["token_num_uses"], json!(5));
    assert!(!data.contains_key("password") && !data.contains_key("password_hash"));
    let printed = Value::Object(data).to_string();
    assert!(
        !printed.contains(PASSWORD) && !printed.contains("argon2"),
        "{printed}"
    );

    h.write("users/bob", json!({"password": "another-password"}))
        .await
        .unwrap();
    let keys = h
        .call(Operation::List, "users/", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(keys["keys"], json!(["alice", "bob"]));

    h.call(Operation::Delete, "users/alice", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        h.read("users/alice").await,
        Err(EngineError::NotFound)
    ));
    assert!(matches!(
        h.login("alice", PASSWORD).await,
        Err(EngineError::PermissionDenied)
    ));
    h.call(Operation::Delete, "users/bob", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        h.call(Operation::List, "users", json!({})).await,
        Err(EngineError::NotFound)
    ));
    // Deleting what is gone is not an error.
    h.call(Operation::Delete, "users/bob", json!({}))
        .await
        .unwrap();
}

#[tokio::test]
async fn creating_a_user_requires_a_password() {
    let h = harness();
    let message = assert_invalid(
        h.write("users/alice", json!({"token_policies": "ops"}))
            .await,
    );
    assert!(message.contains("password is required"), "{message}");
    assert!(h.storage.keys().is_empty());
    assert_invalid(h.write("users/alice", json!({"password": ""})).await);
    assert_invalid(h.write("users/alice", json!({"password": "short"})).await);
    assert!(h.storage.keys().is_empty());
}

#[tokio::test]
async fn stored_value_is_an_owasp_argon2id_phc_string_and_never_the_password() {
    let h = harness_with(UserpassAuth::new(), Arc::new(MemoryMountStorage::default()));
    h.create_alice().await;
    let raw = h.stored("alice").await;
    assert!(!contains(&raw, PASSWORD));
    let record: Value = serde_json::from_slice(&raw).unwrap();
    let phc = record["password_hash"].as_str().unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert_eq!(h.storage.keys(), vec!["user/alice"]);
    let grant = h.login("alice", PASSWORD).await.unwrap();
    assert_eq!(grant.policies, vec!["dev", "ops"]);
}

#[tokio::test]
async fn login_grants_the_users_policies_and_token_settings() {
    let h = harness();
    h.write(
        "users/alice",
        json!({"password": PASSWORD, "policies": ["ops"], "ttl": 600, "max_ttl": "2h",
               "token_period": "30m", "token_num_uses": 3}),
    )
    .await
    .unwrap();
    let grant = h.login("alice", PASSWORD).await.unwrap();
    assert_eq!(grant.policies, vec!["ops"]);
    assert_eq!(
        grant.metadata.get("username").map(String::as_str),
        Some("alice")
    );
    assert_eq!(grant.display_name, "alice");
    assert_eq!(grant.ttl, Duration::from_secs(600));
    assert_eq!(grant.max_ttl, Some(Duration::from_secs(7200)));
    assert_eq!(grant.period, Some(Duration::from_secs(1800)));
    assert_eq!(grant.num_uses, 3);
    assert!(grant.renewable);
    assert_eq!(grant.internal, json!({"username": "alice"}));
}

#[tokio::test]
async fn zero_durations_leave_the_mount_defaults() {
    let h = harness();
    h.write("users/carol", json!({"password": PASSWORD}))
        .await
        .unwrap();
    let grant = h.login("carol", PASSWORD).await.unwrap();
    assert_eq!(grant.ttl, Duration::ZERO);
    assert_eq!(grant.max_ttl, None);
    assert_eq!(grant.period, None);
    assert!(grant.policies.is_empty());
}

#[tokio::test]
async fn wrong_password_is_denied_without_the_dummy_path() {
    let h = harness();
    h.create_alice().await;
    assert!(matches!(
        h.login("alice", "not-the-password").await,
        Err(EngineError::PermissionDenied)
    ));
    assert!(matches!(
        h.login("alice", &PASSWORD.to_uppercase()).await,
        Err(EngineError::PermissionDenied)
    ));
    assert_eq!(h.auth.hasher.dummy_verifications(), 0);
}

#[tokio::test]
async fn unknown_user_is_denied_after_hashing_against_the_dummy() {
    let h = harness();
    h.create_alice().await;
    assert!(matches!(
        h.login("mallory", PASSWORD).await,
        Err(EngineError::PermissionDenied)
    ));
    assert_eq!(h.auth.hasher.dummy_verifications(), 1);
    // The same answer as a wrong password, so the response does not reveal existence.
    let unknown = h
        .login("mallory", "x-password")
        .await
        .unwrap_err()
        .to_string();
    let wrong = h
        .login("alice", "x-password")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(unknown, wrong);
    assert_eq!(h.auth.hasher.dummy_verifications(), 2);
}

#[tokio::test]
async fn password_change_replaces_the_old_password() {
    let h = harness();
    h.create_alice().await;
    let before = h.stored("alice").await;
    h.call(
        Operation::Update,
        "users/alice/password",
        json!({"password": "brand-new-password"}),
    )
    .await
    .unwrap();
    assert!(matches!(
        h.login("alice", PASSWORD).await,
        Err(EngineError::PermissionDenied)
    ));
    h.login("alice", "brand-new-password").await.unwrap();
    let after = h.stored("alice").await;
    assert_ne!(before, after);
    assert!(!contains(&after, "brand-new-password"));
    // Token settings survive a password change.
    assert_eq!(
        h.login("alice", "brand-new-password")
            .await
            .unwrap()
            .num_uses,
        5
    );

    assert!(matches!(
        h.call(
            Operation::Update,
            "users/nobody/password",
            json!({"password": "whatever-pass"})
        )
        .await,
        Err(EngineError::NotFound)
    ));
    assert_invalid(
        h.call(Operation::Update, "users/alice/password", json!({}))
            .await,
    );
    assert_invalid(
        h.call(
            Operation::Update,
            "users/alice/password",
            json!({"password": "short"}),
        )
        .await,
    );
    h.login("alice", "brand-new-password").await.unwrap();
}

#[tokio::test]
async fn update_without_password_keeps_it_and_the_unnamed_fields() {
    let h = harness();
    h.create_alice().await;
    h.write("users/alice", json!({"token_ttl": "2h"}))
        .await
        .unwrap();
    let grant = h.login("alice", PASSWORD).await.unwrap();
    assert_eq!(grant.ttl, Duration::from_secs(7200));
    assert_eq!(grant.policies, vec!["dev", "ops"]);
    // A new password through the user path also works.
    h.write("users/alice", json!({"password": "rotated-password"}))
        .await
        .unwrap();
    h.login("alice", "rotated-password").await.unwrap();
    assert!(h.login("alice", PASSWORD).await.is_err());
}

#[tokio::test]
async fn policies_endpoint_changes_policies_and_stale_tokens_stop_renewing() {
    let h = harness();
    h.create_alice().await;
    let old_grant = h.login("alice", PASSWORD).await.unwrap();
    h.call(
        Operation::Update,
        "users/alice/policies",
        json!({"token_policies": ["audit"]}),
    )
    .await
    .unwrap();
    let grant = h.login("alice", PASSWORD).await.unwrap();
    assert_eq!(grant.policies, vec!["audit"]);
    assert!(matches!(
        h.auth.renew(&h.ctx, &renewal(&old_grant)).await,
        Err(EngineError::PermissionDenied)
    ));
    assert!(h.auth.renew(&h.ctx, &renewal(&grant)).await.is_ok());
    assert!(matches!(
        h.call(
            Operation::Update,
            "users/nobody/policies",
            json!({"policies": "a"})
        )
        .await,
        Err(EngineError::NotFound)
    ));
    assert_invalid(
        h.call(Operation::Update, "users/alice/policies", json!({}))
            .await,
    );
}

#[tokio::test]
async fn renew_returns_current_settings_and_fails_once_the_user_is_gone() {
    let h = harness();
    h.create_alice().await;
    let grant = h.login("alice", PASSWORD).await.unwrap();
    // The token store adds `default`; that is not a policy change.
    let mut renewal = renewal(&grant);
    renewal.policies.push("default".into());
    h.write("users/alice", json!({"token_ttl": "30m"}))
        .await
        .unwrap();
    let renewed = h.auth.renew(&h.ctx, &renewal).await.unwrap();
    assert_eq!(renewed.ttl, Duration::from_secs(1800));
    assert_eq!(renewed.max_ttl, Some(Duration::from_secs(14400)));
    assert_eq!(renewed.policies, vec!["dev", "ops"]);

    h.call(Operation::Delete, "users/alice", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        h.auth.renew(&h.ctx, &renewal).await,
        Err(EngineError::PermissionDenied)
    ));
    renewal.internal = json!({});
    assert!(matches!(
        h.auth.renew(&h.ctx, &renewal).await,
        Err(EngineError::PermissionDenied)
    ));
}

#[tokio::test]
async fn malformed_bodies_are_400s_that_never_echo_the_password() {
    let h = harness();
    h.create_alice().await;
    for (path, body) in [
        ("users/bob", json!({"password": 12345678})),
        (
            "users/bob",
            json!({"password": PASSWORD, "token_ttl": "soon"}),
        ),
        ("users/bob", json!({"password": PASSWORD, "surprise": true})),
        (
            "users/bob",
            json!({"password": PASSWORD, "token_policies": {"a": 1}}),
        ),
        (
            "users/bob",
            json!({"password": PASSWORD, "token_ttl": 7200, "token_max_ttl": 60}),
        ),
        (
            "users/bob",
            json!({"password_hash": "$2a$10$abcdefghijklmnopqrstuv"}),
        ),
        ("users/alice", json!({"token_num_uses": -3})),
    ] {
        let message = assert_invalid(h.write(path, body.clone()).await);
        assert!(!message.contains(PASSWORD), "{message}");
    }
    assert!(h.read("users/bob").await.is_err(), "nothing was created");
    assert_invalid(h.call(Operation::Update, "login/alice", json!({})).await);
    assert_invalid(
        h.call(Operation::Update, "login/alice", json!({"password": ""}))
            .await,
    );
    assert_invalid(
        h.call(Operation::Update, "login/alice", json!({"password": true}))
            .await,
    );
    let message = assert_invalid(
        h.call(
            Operation::Update,
            "login/alice",
            json!({"password": PASSWORD, "otp": 1}),
        )
        .await,
    );
    assert!(!message.contains(PASSWORD), "{message}");
    // The username may be repeated in the body, as Vault clients do.
    h.call(
        Operation::Update,
        "login/alice",
        json!({"password": PASSWORD, "username": "alice"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn usernames_are_lowercased_and_path_like_names_refused() {
    let h = harness();
    h.write("users/Alice", json!({"password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(h.storage.keys(), vec!["user/alice"]);
    h.read("users/ALICE").await.unwrap();
    h.login("aLiCe", PASSWORD).await.unwrap();
    let keys = h
        .call(Operation::List, "users", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(keys["keys"], json!(["alice"]));
    // Creating "ALICE" updates the same user instead of making a second one.
    let request = h.request(Operation::Update, "users/ALICE", json!({}));
    assert!(h.auth.exists(&h.ctx, &request).await.unwrap());

    for bad in ["..", ".", "a/b", "../x", "-x", "x.", "a%2Fb"] {
        for route in [USER, LOGIN] {
            let mut request = h.request(
                Operation::Update,
                if route == USER {
                    "users/placeholder"
                } else {
                    "login/placeholder"
                },
                json!({"password": PASSWORD}),
            );
            // Set the capture directly: the router would never hand us a `/` inside it.
            request.params = route_params(bad);
            assert_invalid(h.auth.handle(&h.ctx, request).await);
        }
    }
    assert_eq!(h.storage.keys(), vec!["user/alice"]);
}

fn route_params(username: &str) -> RouteParams {
    // Params has no public constructor; capture through a pattern with a rest segment.
    let pattern = lessor_sdk::RoutePattern::new("*username");
    pattern.matches(username).unwrap()
}

#[tokio::test]
async fn outdated_hashes_are_upgraded_on_successful_login() {
    let storage = Arc::new(MemoryMountStorage::default());
    let old = harness_with(fast_auth(), storage.clone());
    old.create_alice().await;
    let upgraded_params = Params::new(128, 2, 1, Some(32)).unwrap();
    let h = harness_with(
        UserpassAuth::with_hasher(Hasher::with_params(upgraded_params)),
        storage,
    );

    assert!(h.login("alice", "wrong-password").await.is_err());
    let record: Value = serde_json::from_slice(&h.stored("alice").await).unwrap();
    assert!(
        record["password_hash"]
            .as_str()
            .unwrap()
            .contains("$m=64,t=1,p=1$")
    );

    h.login("alice", PASSWORD).await.unwrap();
    let record: Value = serde_json::from_slice(&h.stored("alice").await).unwrap();
    assert!(
        record["password_hash"]
            .as_str()
            .unwrap()
            .contains("$m=128,t=2,p=1$"),
        "{record}"
    );
    assert_eq!(record["token"]["policies"], json!(["dev", "ops"]));
    h.login("alice", PASSWORD).await.unwrap();
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_say_invalid_username_or_password_and_never_the_password() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = harness();
    h.create_alice().await;
    h.login("alice", PASSWORD).await.unwrap();
    let _ = h.login("alice", "Wrong-Password-99").await;
    let _ = h.login("ghost", "Ghost-Password-77").await;
    h.call(
        Operation::Update,
        "users/alice/password",
        json!({"password": "Changed-Password-55"}),
    )
    .await
    .unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("invalid username or password").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("ghost") && text.contains("unknown user"),
        "{text}"
    );
    for secret in [
        PASSWORD,
        "Wrong-Password-99",
        "Ghost-Password-77",
        "Changed-Password-55",
        "argon2",
    ] {
        assert!(!text.contains(secret), "log leaked {secret:?}: {text}");
    }
}
