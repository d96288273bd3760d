//! A real `lessor` broker process for end-to-end tests.
//!
//! The binary is built once per test run (`cargo build -p lessor-cli`) unless `LESSOR_BIN`
//! names one. Each broker gets its own temporary directory holding its config file and its
//! captured stdout/stderr, so tests can scan exactly what the broker logged.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

static BINARY: OnceCell<PathBuf> = OnceCell::const_new();

/// Path to the `lessor` binary, building it on first use.
pub async fn lessor_binary() -> anyhow::Result<&'static Path> {
    BINARY
        .get_or_try_init(|| async {
            if let Ok(path) = std::env::var("LESSOR_BIN") {
                return Ok(PathBuf::from(path));
            }
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .and_then(Path::parent)
                .context("workspace root")?
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "lessor-cli", "--bin", "lessor"])
                .current_dir(&workspace)
                .status()
                .await
                .context("running cargo build for the lessor binary")?;
            if !status.success() {
                bail!("building the lessor binary failed");
            }
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| workspace.join("target"));
            Ok(target.join("debug").join("lessor"))
        })
        .await
        .map(PathBuf::as_path)
}

/// A port on loopback that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Which storage a config-file broker uses.
#[derive(Debug, Clone)]
pub enum Storage {
    Sqlite,
    Postgres { connection_url: String },
    Memory,
}

/// A running broker. Killed on drop.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    config: Option<PathBuf>,
    /// Set for dev-mode brokers, parsed from the banner.
    pub root_token: Option<String>,
    pub unseal_key: Option<String>,
}

impl BrokerProcess {
    /// Starts `lessor server -config FILE` with the given storage and extra config lines.
    pub async fn start(storage: Storage, extra_config: &str) -> anyhow::Result<Self> {
        Self::start_with(storage, "", extra_config).await
    }

    /// A broker whose listener block (besides its address) is exactly `listener`, e.g. TLS
    /// settings. Readiness is checked by the port accepting connections.
    pub async fn start_tls(storage: Storage, listener: &str) -> anyhow::Result<Self> {
        Self::start_config(storage, listener, "", false).await
    }

    /// Like [`BrokerProcess::start`], with extra lines inside the `listener "tcp"` block.
    pub async fn start_with(
        storage: Storage,
        listener_extra: &str,
        extra_config: &str,
    ) -> anyhow::Result<Self> {
        let listener = format!("tls_disable = true\n  {listener_extra}");
        Self::start_config(storage, &listener, extra_config, true).await
    }

    /// Starts a config-file broker, on another port if the one picked was taken.
    async fn start_config(
        storage: Storage,
        listener: &str,
        extra_config: &str,
        plain: bool,
    ) -> anyhow::Result<Self> {
        retry_on_port_clash(|| {
            Self::start_config_once(storage.clone(), listener, extra_config, plain)
        })
        .await
    }

    async fn start_config_once(
        storage: Storage,
        listener: &str,
        extra_config: &str,
        plain: bool,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let storage_block = match &storage {
            Storage::Sqlite => format!(
                "storage \"sqlite\" {{ path = \"{}\" }}",
                dir.path().join("lessor.db").display()
            ),
            Storage::Postgres { connection_url } => {
                format!("storage \"postgresql\" {{ connection_url = \"{connection_url}\" }}")
            }
            Storage::Memory => "storage \"inmem\" {}".to_string(),
        };
        let config = format!(
            "{storage_block}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  {listener}\n}}\n{extra_config}\n"
        );
        Self::spawn_config(dir, port, &config, plain).await
    }

    /// Starts `lessor server -config FILE` with a whole config file of the caller's, built for
    /// the port the broker will listen on (`127.0.0.1:PORT`): for configs that name their own
    /// address, such as an HA node's `api_addr`. Retries on another port like the others.
    pub async fn start_with_config(config: impl Fn(u16) -> String) -> anyhow::Result<Self> {
        retry_on_port_clash(|| async {
            let dir = tempfile::tempdir()?;
            let port = free_port()?;
            Self::spawn_config(dir, port, &config(port), true).await
        })
        .await
    }

    /// Writes `config` as the broker's config file in `dir`, starts `lessor server -config`
    /// on it and waits until it answers HTTP (`plain`) or, for TLS, accepts connections.
    async fn spawn_config(
        dir: tempfile::TempDir,
        port: u16,
        config: &str,
        plain: bool,
    ) -> anyhow::Result<Self> {
        let path = dir.path().join("lessor.hcl");
        std::fs::write(&path, config)?;
        let mut broker = Self::spawn(
            dir,
            port,
            &["server", "-config", &path.display().to_string()],
        )
        .await?;
        broker.config = Some(path);
        if plain {
            broker.wait_ready().await?;
        } else {
            broker.wait_listening().await?;
        }
        Ok(broker)
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `kill -9`: no shutdown of any kind, as a crash. The logs stay readable.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Waits until the port accepts TCP connections.
    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("broker exited with {status}; logs:\n{}", self.logs());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("broker did not start listening; logs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Restarts a config-file broker on the same config and storage (a new process).
    pub async fn restart(self) -> anyhow::Result<Self> {
        let BrokerProcess {
            mut child,
            port,
            dir,
            config,
            ..
        } = self;
        let _ = child.kill().await;
        let _ = child.wait().await;
        let config = config.context("only config-file brokers can restart")?;
        let mut broker = Self::spawn(
            dir,
            port,
            &["server", "-config", &config.display().to_string()],
        )
        .await?;
        broker.config = Some(config);
        broker.wait_ready().await?;
        Ok(broker)
    }

    /// Starts `lessor server -dev` and reads the root token and unseal key from its banner.
    pub async fn start_dev(extra_args: &[&str]) -> anyhow::Result<Self> {
        retry_on_port_clash(|| Self::start_dev_once(extra_args)).await
    }

    async fn start_dev_once(extra_args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let mut args = vec!["server", "-dev", "-dev-listen-address", address.as_str()];
        args.extend_from_slice(extra_args);
        let mut broker = Self::spawn(dir, port, &args).await?;
        broker.wait_ready().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stdout = std::fs::read_to_string(broker.dir.path().join("stdout.log"))?;
            let field = |name: &str| {
                stdout
                    .lines()
                    .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            if let (Some(token), Some(key)) = (field("Root Token:"), field("Unseal Key:")) {
                broker.root_token = Some(token);
                broker.unseal_key = Some(key);
                return Ok(broker);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("dev banner not printed; stdout: {stdout}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn spawn(dir: tempfile::TempDir, port: u16, args: &[&str]) -> anyhow::Result<Self> {
        let binary = lessor_binary().await?;
        let open_log = |name: &str| -> anyhow::Result<std::fs::File> {
            Ok(std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join(name))?)
        };
        let child = Command::new(binary)
            .args(args)
            // Debug everywhere, and trace for the drivers that print SQL: the broker must keep
            // those capped whatever the filter says, so every log scan in the suite checks it.
            .env(
                "LESSOR_LOG_LEVEL",
                "debug,tokio_postgres=trace,tokio_postgres::simple_query=trace,sqlx=trace",
            )
            .env_remove("LESSOR_ADDR")
            .env_remove("LESSOR_TOKEN")
            .stdin(Stdio::null())
            .stdout(open_log("stdout.log")?)
            .stderr(open_log("stderr.log")?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child,
            port,
            dir,
            config: None,
            root_token: None,
            unseal_key: None,
        })
    }

    /// Waits until `sys/health` answers with any status.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("broker exited with {status}; logs:\n{}", self.logs());
            }
            if client.get(self.url("sys/health")).send().await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("broker did not start listening; logs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of an API path, e.g. `url("sys/health")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.address(), path.trim_start_matches('/'))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the broker printed so far, stdout then stderr.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("stderr.log"))
    }

    /// Only the log stream (stderr), without the dev banner.
    pub fn log_stream(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Stops the process and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.kill().await
    }
}

/// Runs `start` again, up to four more times, while it fails because the port it picked was
/// taken between choosing it and the broker binding it (other tests run in parallel).
async fn retry_on_port_clash<F, Fut>(mut start: F) -> anyhow::Result<BrokerProcess>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<BrokerProcess>>,
{
    let mut attempt = 0;
    loop {
        match start().await {
            Err(error) if attempt < 4 && error.to_string().contains("Address already in use") => {
                attempt += 1;
            }
            other => return other,
        }
    }
}
