//! Engine tests through the public contract (`handle`, `renew`, `revoke`) against a real
//! PostgreSQL: each harness gets a fresh database on the shared test server, in-memory mount
//! storage, recorded lease intents and a manual clock.

mod concurrency;
mod config;
mod creds;
mod injection;
mod revoke;
mod roles;
mod rotate;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lessor_sdk::testing::{MemoryMountStorage, RecordingIntents};
use lessor_sdk::{
    ClientInfo, Clock, EngineContext, EngineError, LeaseIntents, LeasedSecret, ManualClock, Map,
    Operation, Request, Response, SecretEngine, SystemClock,
};
use lessor_test_support::postgres::TestPostgres;
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

use crate::PostgresEngine;

pub(super) const MOUNT: &str = "database/";
pub(super) const ROOT_PASSWORD: &str = "root-Secret-Passw0rd";

/// Lease intents that record what was begun and check, at begin time, that the user named
/// in the payload does not exist yet (the intent must precede the database change).
#[derive(Debug)]
pub(super) struct CheckingIntents {
    pub recording: RecordingIntents,
    admin_url: String,
    /// For each begin: whether the payload's user was absent from pg_roles at that moment.
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
        let username = payload["username"].as_str().unwrap_or_default().to_string();
        let admin = connect(&self.admin_url).await;
        let row = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
            .await
            .unwrap();
        self.absent_at_begin.lock().unwrap().push(row.is_none());
        self.recording.begin(request_path, kind, payload).await
    }
}

pub(super) struct Harness {
    pub engine: PostgresEngine,
    pub memory: Arc<MemoryMountStorage>,
    pub intents: Arc<CheckingIntents>,
    pub clock: Arc<ManualClock>,
    pub ctx: EngineContext,
    /// The fresh database, as superuser `postgres` (trust auth).
    pub db_url: String,
}

pub(super) async fn connect(url: &str) -> Client {
    let config = tokio_postgres::Config::from_str(url).unwrap();
    connect_config(&config).await.unwrap()
}

pub(super) async fn connect_config(
    config: &tokio_postgres::Config,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl Harness {
    pub async fn new() -> Self {
        let db_url = TestPostgres::shared()
            .await
            .unwrap()
            .fresh_database()
            .await
            .unwrap();
        let memory = Arc::new(MemoryMountStorage::default());
        // Start at the real time: VALID UNTIL is enforced by the real server.
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let intents = Arc::new(CheckingIntents {
            recording: RecordingIntents::default(),
            admin_url: db_url.clone(),
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
            engine: PostgresEngine::new(),
            memory,
            intents,
            clock,
            ctx,
            db_url,
        }
    }

    /// `db_url` with `{{username}}:{{password}}` placeholders, as operators write it.
    pub fn templated_url(&self) -> String {
        self.db_url.replace(
            "postgres://postgres@",
            "postgres://{{username}}:{{password}}@",
        )
    }

    pub fn db_name(&self) -> String {
        self.db_url.rsplit('/').next().unwrap().to_string()
    }

    pub async fn admin(&self) -> Client {
        connect(&self.db_url).await
    }

    /// Connects to the test database as `username`.
    pub async fn connect_as(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::from_str(&self.db_url).unwrap();
        config.user(username).password(password);
        connect_config(&config).await
    }

    pub fn request(&self, operation: Operation, path: &str, body: Value) -> Request {
        let route = self
            .engine
            .routes()
            .into_iter()
            .find(|route| route.pattern.matches(path).is_some())
            .unwrap_or_else(|| panic!("no route matches {path:?}"));
        assert!(
            route.supports(operation),
            "{operation} not declared on {path}"
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
            client: Some(ClientInfo {
                display_name: "token".into(),
                ..ClientInfo::default()
            }),
            mount_path: MOUNT.into(),
        }
    }

    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, EngineError> {
        self.engine
            .handle(&self.ctx, self.request(operation, path, body))
            .await
    }

    pub async fn ok(&self, operation: Operation, path: &str, body: Value) -> Value {
        match self.call(operation, path, body).await {
            Ok(response) => response.data.map_or(Value::Null, Value::Object),
            Err(error) => panic!("{operation} {path} failed: {error}"),
        }
    }

    pub async fn invalid(&self, operation: Operation, path: &str, body: Value) -> String {
        match self.call(operation, path, body).await {
            Err(EngineError::InvalidRequest(message)) => message,
            other => panic!("{operation} {path}: expected InvalidRequest, got {other:?}"),
        }
    }

    /// Writes config `main` for the test database as `postgres` (plus `extra` fields).
    pub async fn configure(&self, extra: Value) {
        let mut body = json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": self.templated_url(),
            "username": "postgres",
            "password": ROOT_PASSWORD,
            "allowed_roles": "*",
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        self.ok(Operation::Update, "config/main", body).await;
    }

    /// Writes role `name` on config `main` with the given creation statements.
    pub async fn role(&self, name: &str, extra: Value) {
        let mut body = json!({
            "db_name": "main",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"
            ],
            "default_ttl": "1h",
            "max_ttl": "24h",
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        self.ok(Operation::Update, &format!("roles/{name}"), body)
            .await;
    }

    /// Issues credentials for `role`; returns (username, password, the lease as the broker
    /// would hand it back).
    pub async fn creds(&self, role: &str) -> (String, String, LeasedSecret) {
        let response = self
            .call(Operation::Read, &format!("creds/{role}"), Value::Null)
            .await
            .unwrap_or_else(|error| panic!("creds/{role} failed: {error}"));
        let data = response.data.unwrap();
        let spec = response.secret.unwrap();
        let now = self.clock.now();
        let secret = LeasedSecret {
            lease_id: spec.intent.clone().unwrap(),
            kind: spec.kind.clone(),
            payload: spec.payload.clone(),
            issue_time: now,
            expire_time: now + spec.ttl,
        };
        (
            data["username"].as_str().unwrap().to_string(),
            data["password"].as_str().unwrap().to_string(),
            secret,
        )
    }

    pub async fn role_exists(&self, username: &str) -> bool {
        self.admin()
            .await
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
            .await
            .unwrap()
            .is_some()
    }

    /// The stored config as raw JSON (what the engine persisted, password included).
    pub async fn stored_config(&self, name: &str) -> Value {
        let bytes = lessor_sdk::MountStorage::get(self.memory.as_ref(), &format!("config/{name}"))
            .await
            .unwrap()
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}
