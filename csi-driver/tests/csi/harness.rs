//! Fixtures: a broker configured for CSI (Kubernetes auth, `database/`, `apikey/`, KV), the
//! driver process, gRPC clients over its unix socket, and broker-side counting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use lessor_csi::proto::csi;
use lessor_csi::proto::csi::identity_client::IdentityClient;
use lessor_csi::proto::csi::node_client::NodeClient;
use lessor_csi::proto::provider::csi_driver_provider_client::CsiDriverProviderClient;
use lessor_test_support::broker::{BrokerProcess, free_port};
use lessor_test_support::kubernetes::{FakeKubernetes, TokenSpec};
use lessor_test_support::postgres::TestPostgres;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint, Uri};

pub const NAMESPACE: &str = "prod";
pub const SERVICE_ACCOUNT: &str = "app";

/// A thin JSON client of the broker.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(address: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("{address}/v1/"),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PUT", path, Some(body)).await
    }

    /// Live leases under `prefix`, as the broker lists them.
    pub async fn leases(&self, prefix: &str) -> usize {
        let (status, body) = self
            .call("LIST", &format!("sys/leases/lookup/{prefix}"), None)
            .await;
        match status {
            404 => 0,
            200 => body["data"]["keys"].as_array().unwrap().len(),
            other => panic!("listing leases under {prefix}: {other} {body}"),
        }
    }
}

/// A target database with its own root role; roles of this test carry `prefix`.
pub struct Target {
    pub url: String,
    pub root_user: String,
    pub prefix: String,
}

impl Target {
    pub async fn new() -> Self {
        let server = TestPostgres::shared().await.unwrap();
        let url = server.fresh_database().await.unwrap();
        let suffix = format!("{:08x}", rand::random::<u32>());
        let root_user = format!("csi_root_{suffix}");
        let mut admin = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {root_user} WITH LOGIN SUPERUSER PASSWORD 'initial-root-password';
             CREATE TABLE lessor_probe (id int); INSERT INTO lessor_probe VALUES (42);"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        Self {
            url,
            root_user,
            prefix: format!("c{suffix}"),
        }
    }

    fn host_and_db(&self) -> &str {
        let rest = self.url.split_once("://").unwrap().1;
        rest.split_once('@').map_or(rest, |(_, h)| h)
    }

    /// Logs in as `user` and reads the probe table.
    pub async fn login_works(&self, user: &str, password: &str) -> bool {
        let url = format!("postgres://{user}:{password}@{}", self.host_and_db());
        let Ok(mut session) = PgConnection::connect(&url).await else {
            return false;
        };
        let row: Result<(i32,), _> = sqlx::query_as("SELECT id FROM lessor_probe")
            .fetch_one(&mut session)
            .await;
        row.is_ok_and(|(id,)| id == 42)
    }

    /// `VALID UNTIL` of a role, or `None` when the role does not exist.
    pub async fn valid_until(&self, user: &str) -> Option<String> {
        let mut admin = PgConnection::connect(&self.url).await.unwrap();
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1")
                .bind(user)
                .fetch_optional(&mut admin)
                .await
                .unwrap();
        row.map(|(until,)| until.unwrap_or_default())
    }

    /// Waits up to `within` for `user`'s role to be dropped; false if it is still there.
    pub async fn dropped_within(&self, user: &str, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.valid_until(user).await.is_some() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }
}

/// The Kubernetes auth role `app` the volumes log in with; `token` adds or overrides its
/// token settings (the default is a 1 h token TTL).
pub fn app_role(token: Value) -> Value {
    let mut role = json!({
        "bound_service_account_names": [SERVICE_ACCOUNT],
        "bound_service_account_namespaces": [NAMESPACE],
        "audience": "lessor",
        "token_policies": ["app"],
        "token_ttl": "1h",
    });
    if let (Some(role), Some(token)) = (role.as_object_mut(), token.as_object()) {
        role.extend(token.clone());
    }
    role
}

/// A dev broker with everything a CSI volume of these tests reads.
pub struct Cluster {
    pub fake: FakeKubernetes,
    pub broker: BrokerProcess,
    pub root: Api,
    pub target: Target,
}

impl Cluster {
    /// `db_ttl`/`db_max_ttl` shape the database role's leases, e.g. `("1h", "2h")`.
    pub async fn start(db_ttl: &str, db_max_ttl: &str) -> Self {
        let fake = FakeKubernetes::start().await.unwrap();
        let broker = BrokerProcess::start_dev(&["-dev-storage", "memory"])
            .await
            .unwrap();
        let root = Api::new(&broker.address()).with_token(broker.root_token.as_deref().unwrap());
        let target = Target::new().await;
        let policy = r#"
            path "database/creds/app" { capabilities = ["read"] }
            path "apikey/creds/payments" { capabilities = ["read"] }
            path "secret/data/app/*" { capabilities = ["read"] }
        "#;
        let connection_url = format!(
            "postgresql://{{{{username}}}}:{{{{password}}}}@{}",
            target.host_and_db()
        );
        let setup = [
            ("sys/auth/kubernetes", json!({"type": "kubernetes"})),
            (
                "auth/kubernetes/config",
                json!({
                    "kubernetes_host": fake.url(),
                    "kubernetes_ca_cert": fake.ca_pem(),
                    "token_reviewer_jwt": fake.reviewer_token(),
                    "issuer": fake.issuer(),
                }),
            ),
            ("sys/policies/acl/app", json!({"policy": policy})),
            ("auth/kubernetes/role/app", app_role(json!({}))),
            ("sys/mounts/database", json!({"type": "database"})),
            (
                "database/config/main",
                json!({
                    "plugin_name": "postgresql-database-plugin",
                    "connection_url": connection_url,
                    "username": target.root_user,
                    "password": "initial-root-password",
                    "allowed_roles": ["app"],
                    "username_template": format!("{}_{{{{random 12}}}}", target.prefix),
                }),
            ),
            (
                "database/roles/app",
                json!({
                    "db_name": "main",
                    "creation_statements": [
                        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                        "GRANT SELECT ON lessor_probe TO \"{{name}}\";"
                    ],
                    "default_ttl": db_ttl,
                    "max_ttl": db_max_ttl,
                }),
            ),
            ("sys/mounts/apikey", json!({"type": "apikey"})),
            (
                "apikey/roles/payments",
                json!({"prefix": "lsk_", "default_ttl": "1h", "max_ttl": "2h"}),
            ),
            (
                "secret/data/app/config",
                json!({"data": {"feature": "on", "level": 3}}),
            ),
        ];
        for (path, body) in setup {
            let (status, body) = root.put(path, body).await;
            assert!(status == 200 || status == 204, "{path}: {status} {body}");
        }
        Self {
            fake,
            broker,
            root,
            target,
        }
    }

    /// A pod's service-account token, as kubelet's `tokenRequests` would pass it.
    pub fn tokens_attribute(&self, pod: &PodIdentity) -> String {
        let spec = TokenSpec {
            pod: Some((pod.name.clone(), pod.uid.clone())),
            audiences: vec!["lessor".into()],
            ..TokenSpec::new(NAMESPACE, SERVICE_ACCOUNT)
        };
        let jwt = self.fake.mint(&spec);
        json!({"lessor": {"token": jwt, "expirationTimestamp": "2099-01-01T00:00:00Z"}}).to_string()
    }

    pub async fn api_key_valid(&self, key: &str) -> bool {
        let (status, body) = self.root.put("apikey/verify", json!({"key": key})).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["valid"] == true
    }

    /// Broker-side counts: login tokens, database credentials, API keys.
    pub async fn counts(&self) -> (usize, usize, usize) {
        (
            self.root.leases("auth/token/create/").await,
            self.root.leases("database/creds/app/").await,
            self.root.leases("apikey/creds/payments/").await,
        )
    }
}

#[derive(Debug, Clone)]
pub struct PodIdentity {
    pub name: String,
    pub uid: String,
}

impl PodIdentity {
    pub fn new() -> Self {
        let uid = uuid_like();
        Self {
            name: format!("app-{}", &uid[..5]),
            uid,
        }
    }
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Every object kind the issue names: database credentials, an API key, KV as JSON.
pub const ALL_OBJECTS: &str = r#"
- {path: database/creds/app, files: [{name: db-user, key: username}, {name: db-pass, key: password, mode: "0400"}]}
- {path: apikey/creds/payments, files: [{name: api-key, key: key, mode: "0440"}]}
- {path: secret/data/app/config, files: [{name: config.json}]}
"#;

pub const DB_OBJECTS: &str = "[{path: database/creds/app, files: [{name: db-user, key: username}, {name: db-pass, key: password}]}]";

/// The volume context kubelet sends for an inline volume of `pod`.
pub fn volume_context(
    cluster: &Cluster,
    pod: &PodIdentity,
    objects: &str,
) -> HashMap<String, String> {
    HashMap::from([
        ("role".into(), "app".into()),
        ("objects".into(), objects.into()),
        ("csi.storage.k8s.io/pod.name".into(), pod.name.clone()),
        ("csi.storage.k8s.io/pod.namespace".into(), NAMESPACE.into()),
        ("csi.storage.k8s.io/pod.uid".into(), pod.uid.clone()),
        (
            "csi.storage.k8s.io/serviceAccount.name".into(),
            SERVICE_ACCOUNT.into(),
        ),
        ("csi.storage.k8s.io/ephemeral".into(), "true".into()),
        (
            "csi.storage.k8s.io/serviceAccount.tokens".into(),
            cluster.tokens_attribute(pod),
        ),
    ])
}

pub fn mount_capability() -> csi::VolumeCapability {
    csi::VolumeCapability {
        access_type: Some(csi::volume_capability::AccessType::Mount(
            csi::volume_capability::MountVolume::default(),
        )),
        access_mode: Some(csi::volume_capability::AccessMode {
            mode: csi::volume_capability::access_mode::Mode::SingleNodeWriter.into(),
        }),
    }
}

pub fn publish_request(
    volume_id: &str,
    target: &Path,
    context: HashMap<String, String>,
) -> csi::NodePublishVolumeRequest {
    csi::NodePublishVolumeRequest {
        volume_id: volume_id.into(),
        target_path: target.display().to_string(),
        volume_capability: Some(mount_capability()),
        volume_context: context,
        ..Default::default()
    }
}

/// The `lessor-csi` binary as a child process, with its own socket, state and metrics port.
pub struct Driver {
    child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub metrics_port: u16,
    broker_address: String,
    extra: Vec<String>,
    wrapper: Vec<String>,
}

impl Driver {
    pub async fn start(dir: &Path, broker_address: &str, extra: &[&str]) -> Self {
        Self::start_wrapped(dir, broker_address, extra, &[]).await
    }

    /// `wrapper` runs the driver under another command, e.g. `setpriv` to drop a capability.
    pub async fn start_wrapped(
        dir: &Path,
        broker_address: &str,
        extra: &[&str],
        wrapper: &[&str],
    ) -> Self {
        let mut driver = Self {
            child: None,
            dir: dir.to_path_buf(),
            socket: dir.join("csi.sock"),
            metrics_port: free_port().unwrap(),
            broker_address: broker_address.into(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            wrapper: wrapper.iter().map(|s| (*s).to_owned()).collect(),
        };
        driver.spawn().await;
        driver
    }

    async fn spawn(&mut self) {
        let binary = env!("CARGO_BIN_EXE_lessor-csi");
        let (program, mut args) = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut args: Vec<String> = rest.to_vec();
                args.push(binary.to_owned());
                (program.clone(), args)
            }
            None => (binary.to_owned(), Vec::new()),
        };
        args.extend([
            format!("--endpoint=unix://{}", self.socket.display()),
            "--node-id=test-node".into(),
            format!("--state-dir={}", self.dir.join("state").display()),
            format!("--broker-address={}", self.broker_address),
            format!("--metrics-address=127.0.0.1:{}", self.metrics_port),
            "--log-level=debug".into(),
        ]);
        args.extend(self.extra.iter().cloned());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("driver.log"))
            .unwrap();
        let child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::UnixStream::connect(&self.socket).await.is_ok()
                && reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
                    .await
                    .is_ok()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("lessor-csi exited with {status}:\n{}", self.logs());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "lessor-csi did not start:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no shutdown path runs.
    pub async fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }

    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("driver.log")).unwrap_or_default()
    }

    async fn channel(socket: &Path) -> Channel {
        let socket = socket.to_path_buf();
        Endpoint::try_from("http://[::]:50051")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }))
            .await
            .unwrap()
    }

    pub async fn node(&self) -> NodeClient<Channel> {
        NodeClient::new(Self::channel(&self.socket).await)
    }

    pub async fn identity(&self) -> IdentityClient<Channel> {
        IdentityClient::new(Self::channel(&self.socket).await)
    }

    /// `NodePublishVolume` of `volume_id` at `target`, on a fresh connection.
    pub async fn publish(
        &self,
        volume_id: &str,
        target: &Path,
        context: HashMap<String, String>,
    ) -> Result<(), tonic::Status> {
        self.node()
            .await
            .node_publish_volume(publish_request(volume_id, target, context))
            .await
            .map(drop)
    }

    /// `NodeUnpublishVolume` of `volume_id` at `target`, on a fresh connection.
    pub async fn unpublish(&self, volume_id: &str, target: &Path) -> Result<(), tonic::Status> {
        self.node()
            .await
            .node_unpublish_volume(csi::NodeUnpublishVolumeRequest {
                volume_id: volume_id.into(),
                target_path: target.display().to_string(),
            })
            .await
            .map(drop)
    }

    pub async fn provider(&self, socket: &Path) -> CsiDriverProviderClient<Channel> {
        CsiDriverProviderClient::new(Self::channel(socket).await)
    }

    /// Sum of a counter over its labels, from `/metrics`.
    pub async fn counter(&self, name: &str) -> u64 {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

/// Whether `path` is a tmpfs mount point, per the kernel's mount table.
pub fn is_tmpfs_mount(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wanted = path.display().to_string();
    mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let separator = fields.iter().position(|f| *f == "-");
        fields.get(4) == Some(&wanted.as_str())
            && separator.and_then(|i| fields.get(i + 1)) == Some(&"tmpfs")
    })
}

pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wanted = path.display().to_string();
    mounts
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted.as_str()))
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Every byte under `dir`, for scanning state for secrets.
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return bytes;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}
