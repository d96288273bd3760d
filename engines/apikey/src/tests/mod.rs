//! Engine tests through the public contract (`routes`, `handle`, `renew`, `revoke`) with
//! in-memory mount storage, lease intents that check the ordering of writes, and a manual
//! clock.

mod lifecycle;
mod rejects;
mod roles;
mod secrecy;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::testing::{MemoryMountStorage, RecordingIntents};
use lessor_sdk::{
    ClientInfo, Clock, EngineContext, EngineError, LeaseIntents, LeaseSpec, LeasedSecret,
    ManualClock, Map, MountStorage, Operation, Request, Response, SecretEngine,
};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::ApiKeyEngine;

pub(super) const MOUNT: &str = "apikey/";

/// Lease intents that record what was begun and check, at begin time, that the key record
/// named in the payload is not stored yet (the intent must precede the record).
#[derive(Debug)]
pub(super) struct CheckingIntents {
    pub recording: RecordingIntents,
    storage: Arc<MemoryMountStorage>,
    /// For each begin: whether `keys/<key_id>` was absent at that moment.
    pub absent_at_begin: Mutex<Vec<bool>>,
}

#[async_trait]
impl LeaseIntents for CheckingIntents {
    async fn begin(
        &self,
        request_path: &str,
        kind: &str,
        payload: Value,
    ) -> Result<String, EngineError> {
        let key_id = payload["key_id"].as_str().unwrap().to_string();
        let absent = self
            .storage
            .get(&format!("keys/{key_id}"))
            .await
            .unwrap()
            .is_none();
        self.absent_at_begin.lock().unwrap().push(absent);
        self.recording.begin(request_path, kind, payload).await
    }
}

/// A key as issued through `creds/:role`, with the lease the broker would hold for it.
pub(super) struct Issued {
    pub key: String,
    pub key_id: String,
    pub data: Map,
    pub spec: LeaseSpec,
    pub lease: LeasedSecret,
    pub warnings: Vec<String>,
}

pub(super) struct Harness {
    pub engine: ApiKeyEngine,
    pub memory: Arc<MemoryMountStorage>,
    pub intents: Arc<CheckingIntents>,
    pub clock: Arc<ManualClock>,
    pub ctx: EngineContext,
}

pub(super) fn client(policies: &[&str]) -> ClientInfo {
    ClientInfo {
        accessor: "accessor".into(),
        policies: policies.iter().map(|p| p.to_string()).collect(),
        display_name: "token".into(),
        metadata: Default::default(),
    }
}

impl Harness {
    /// A fresh mount whose engine has been initialized, as the broker does.
    pub async fn new() -> Self {
        let harness = Self::uninitialized();
        harness.engine.initialize(&harness.ctx).await.unwrap();
        harness
    }

    pub fn uninitialized() -> Self {
        let memory = Arc::new(MemoryMountStorage::default());
        let clock = Arc::new(ManualClock::new(datetime!(2030-01-01 0:00 UTC)));
        let intents = Arc::new(CheckingIntents {
            recording: RecordingIntents::default(),
            storage: memory.clone(),
            absent_at_begin: Mutex::new(Vec::new()),
        });
        let ctx = EngineContext {
            storage: memory.clone(),
            clock: clock.clone(),
            leases: intents.clone(),
            mount_path: MOUNT.into(),
            default_lease_ttl: Duration::from_secs(3600),
            max_lease_ttl: Duration::from_secs(86400),
            options: Map::new(),
        };
        Self {
            engine: ApiKeyEngine::new(),
            memory,
            intents,
            clock,
            ctx,
        }
    }

    /// Routes `path` the way the broker does and calls the engine as `client`.
    pub async fn call_as(
        &self,
        operation: Operation,
        path: &str,
        data: Value,
        client: Option<ClientInfo>,
    ) -> Result<Response, EngineError> {
        let (route, params) = self
            .engine
            .routes()
            .into_iter()
            .find_map(|route| {
                let params = route.pattern.matches(path)?;
                route
                    .supports(operation)
                    .then(|| (route.pattern.source(), params))
            })
            .unwrap_or_else(|| panic!("no route for {operation} {path}"));
        let Value::Object(data) = data else {
            panic!("request data must be an object")
        };
        let request = Request {
            id: "request".into(),
            operation,
            route,
            path: path.into(),
            params,
            data,
            client,
            mount_path: MOUNT.into(),
        };
        self.engine.handle(&self.ctx, request).await
    }

    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        data: Value,
    ) -> Result<Response, EngineError> {
        self.call_as(operation, path, data, Some(client(&["default"])))
            .await
    }

    pub async fn data(&self, operation: Operation, path: &str, body: Value) -> Map {
        self.call(operation, path, body)
            .await
            .unwrap()
            .data
            .unwrap()
    }

    pub async fn write_role(&self, name: &str, body: Value) {
        self.call(Operation::Create, &format!("roles/{name}"), body)
            .await
            .unwrap();
    }

    pub async fn issue_with(&self, role: &str, body: Value) -> Issued {
        let response = self
            .call(Operation::Update, &format!("creds/{role}"), body)
            .await
            .unwrap();
        let data = response.data.unwrap();
        let spec = response.secret.unwrap();
        let now = self.clock.now();
        let lease = LeasedSecret {
            lease_id: spec.intent.clone().unwrap(),
            kind: spec.kind.clone(),
            payload: spec.payload.clone(),
            issue_time: now,
            expire_time: now + spec.ttl,
        };
        Issued {
            key: data["key"].as_str().unwrap().to_string(),
            key_id: data["key_id"].as_str().unwrap().to_string(),
            data,
            spec,
            lease,
            warnings: response.warnings,
        }
    }

    pub async fn issue(&self, role: &str) -> Issued {
        self.issue_with(role, json!({})).await
    }

    pub async fn verify_as(
        &self,
        key: &str,
        client: Option<ClientInfo>,
    ) -> Result<Map, EngineError> {
        self.call_as(Operation::Update, "verify", json!({ "key": key }), client)
            .await
            .map(|response| response.data.unwrap())
    }

    pub async fn verify(&self, key: &str) -> Map {
        self.verify_as(key, Some(client(&["default"])))
            .await
            .unwrap()
    }

    pub async fn is_valid(&self, key: &str) -> bool {
        let data = self.verify(key).await;
        let valid = data["valid"].as_bool().unwrap();
        if !valid {
            // A rejection says nothing more than that.
            assert_eq!(data.len(), 1, "{data:?}");
        }
        valid
    }

    /// Every value in the mount's storage.
    pub async fn stored_values(&self) -> Vec<(String, Vec<u8>)> {
        let mut values = Vec::new();
        for key in self.memory.keys() {
            let value = self.memory.get(&key).await.unwrap().unwrap();
            values.push((key, value));
        }
        values
    }
}

pub(super) fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub(super) fn invalid_request(result: Result<Response, EngineError>) -> String {
    match result {
        Err(EngineError::InvalidRequest(message)) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}
