//! Engine tests through the public contract: requests are routed with the engine's own route
//! declarations, as the broker would, against in-memory storage and a manual clock.

mod atomicity;
mod data;
mod metadata;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use lessor_sdk::testing::MemoryMountStorage;
use lessor_sdk::{
    EngineContext, EngineError, ManualClock, Map, MountStorage, Operation, Request, Response,
    SecretEngine,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::KvEngine;

pub(super) const T0: OffsetDateTime = datetime!(2024-05-01 12:00:00.123456789 UTC);
pub(super) const T0_TEXT: &str = "2024-05-01T12:00:00.123456789Z";

pub(super) struct Harness {
    pub engine: KvEngine,
    pub memory: Arc<MemoryMountStorage>,
    pub clock: Arc<ManualClock>,
    pub ctx: EngineContext,
}

impl Harness {
    pub fn new() -> Self {
        let memory = Arc::new(MemoryMountStorage::default());
        Self::over(memory.clone(), memory)
    }

    /// A harness whose engine sees `storage` (a wrapper), while tests inspect `memory`.
    pub fn over(memory: Arc<MemoryMountStorage>, storage: Arc<dyn MountStorage>) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let ctx = EngineContext {
            storage,
            clock: clock.clone(),
            leases: Arc::new(lessor_sdk::testing::RecordingIntents::default()),
            mount_path: "secret/".into(),
            default_lease_ttl: Duration::from_secs(3600),
            max_lease_ttl: Duration::from_secs(86400),
            options: Map::new(),
        };
        Self {
            engine: KvEngine::new(),
            memory,
            clock,
            ctx,
        }
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    /// Builds the request the broker would: matched route, captured params, body or query.
    pub fn request(&self, operation: Operation, path: &str, body: Value) -> Request {
        let route = self
            .engine
            .routes()
            .into_iter()
            .find(|route| route.pattern.matches(path).is_some())
            .unwrap_or_else(|| panic!("no route matches {path:?}"));
        assert!(
            route.supports(operation),
            "{operation} is not declared on {:?}",
            route.pattern.source()
        );
        let params = route.pattern.matches(path).unwrap();
        let data = match body {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => panic!("test body must be an object, got {other}"),
        };
        Request {
            id: "req-1".into(),
            operation,
            route: route.pattern.source(),
            path: path.into(),
            params,
            data,
            client: None,
            mount_path: "secret/".into(),
        }
    }

    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, EngineError> {
        let request = self.request(operation, path, body);
        self.engine.handle(&self.ctx, request).await
    }

    /// A call that must succeed; returns its data (`Null` for 204).
    pub async fn ok(&self, operation: Operation, path: &str, body: Value) -> Value {
        match self.call(operation, path, body).await {
            Ok(response) => response.data.map_or(Value::Null, Value::Object),
            Err(error) => panic!("{operation} {path} failed: {error}"),
        }
    }

    /// A call that must fail with InvalidRequest; returns the message.
    pub async fn invalid(&self, operation: Operation, path: &str, body: Value) -> String {
        match self.call(operation, path, body).await {
            Err(EngineError::InvalidRequest(message)) => message,
            other => panic!("{operation} {path}: expected InvalidRequest, got {other:?}"),
        }
    }

    pub async fn not_found(&self, operation: Operation, path: &str, body: Value) {
        match self.call(operation, path, body).await {
            Err(EngineError::NotFound) => {}
            other => panic!("{operation} {path}: expected NotFound, got {other:?}"),
        }
    }

    pub async fn exists(&self, operation: Operation, path: &str) -> bool {
        let request = self.request(operation, path, Value::Null);
        self.engine.exists(&self.ctx, &request).await.unwrap()
    }

    pub fn stored_keys(&self) -> Vec<String> {
        self.memory.keys()
    }
}

#[tokio::test]
async fn revoke_refuses_because_kv_issues_no_leases() {
    let harness = Harness::new();
    let secret = lessor_sdk::LeasedSecret {
        lease_id: "secret/data/x/abc".into(),
        kind: "kv".into(),
        payload: Value::Null,
        issue_time: T0,
        expire_time: T0,
    };
    let result = harness.engine.revoke(&harness.ctx, &secret).await;
    assert!(matches!(result, Err(EngineError::Internal(message)) if message.contains("no leases")));
}

#[test]
fn routes_cover_the_kv_v2_api() {
    let engine = KvEngine::new();
    let routes = engine.routes();
    for (path, operation) in [
        ("config", Operation::Read),
        ("config", Operation::Update),
        ("data/a/b", Operation::Create),
        ("data/a/b", Operation::Update),
        ("data/a/b", Operation::Patch),
        ("data/a/b", Operation::Delete),
        ("subkeys/a", Operation::Read),
        ("metadata/", Operation::List),
        ("metadata/a/", Operation::List),
        ("metadata/a", Operation::Patch),
        ("delete/a", Operation::Update),
        ("undelete/a", Operation::Update),
        ("destroy/a", Operation::Update),
    ] {
        let route = routes
            .iter()
            .find(|route| route.pattern.matches(path).is_some())
            .unwrap_or_else(|| panic!("{path} unrouted"));
        assert!(route.supports(operation), "{operation} {path}");
    }
    let data = routes
        .iter()
        .find(|r| r.pattern.source() == "data/*path")
        .unwrap();
    assert!(!data.supports(Operation::List));
    assert!(routes.iter().all(|route| !route.unauthenticated));
}
