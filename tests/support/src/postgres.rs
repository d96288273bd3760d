//! A real PostgreSQL server for tests, and a fresh database per test on it.
//!
//! [`TestPostgres::start`] uses the local server at 127.0.0.1:5432 when it answers and otherwise
//! starts a throwaway cluster (`initdb` + `pg_ctl` from `/usr/lib/postgresql/*/bin`, trust
//! auth, a free port, a temp dir), running it as the `postgres` OS user when we are root
//! because PostgreSQL refuses to run as root. `LESSOR_TEST_PG_THROWAWAY=1` forces the
//! throwaway path. [`TestPostgres::shared`] keeps one server per test binary, and
//! [`TargetDatabase`] gives a test a database of its own for the PostgreSQL secrets engine.
//!
//! A throwaway cluster stops when its `TestPostgres` drops. The shared one lives in a static,
//! and statics are never dropped, so every cluster also gets a tiny watchdog process that stops
//! it and removes its directory once the test process has exited.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::process::Command;
use tokio::sync::OnceCell;

/// The developer/CI server: trust auth for user `postgres`.
const LOCAL_HOST: &str = "127.0.0.1";
const LOCAL_PORT: u16 = 5432;
/// Set to `1` to skip the local server and start a throwaway cluster.
pub const FORCE_THROWAWAY_ENV: &str = "LESSOR_TEST_PG_THROWAWAY";

static SHARED: OnceCell<TestPostgres> = OnceCell::const_new();

/// A PostgreSQL server reachable over TCP as superuser `postgres` with trust auth.
#[derive(Debug)]
pub struct TestPostgres {
    host: String,
    port: u16,
    /// `Some` when we started the server ourselves.
    cluster: Option<Cluster>,
}

impl TestPostgres {
    /// The server shared by every test in this binary, started on first use. It holds no
    /// connections, so tests on different tokio runtimes can all use it.
    pub async fn shared() -> anyhow::Result<&'static TestPostgres> {
        SHARED.get_or_try_init(TestPostgres::start).await
    }

    /// The local server if it answers (and the throwaway path is not forced), else a
    /// throwaway cluster.
    pub async fn start() -> anyhow::Result<TestPostgres> {
        let forced = std::env::var(FORCE_THROWAWAY_ENV).is_ok_and(|v| v == "1");
        if !forced && answers(LOCAL_HOST, LOCAL_PORT).await {
            return Ok(TestPostgres {
                host: LOCAL_HOST.to_owned(),
                port: LOCAL_PORT,
                cluster: None,
            });
        }
        Self::start_throwaway().await
    }

    /// Always starts a new throwaway cluster, stopped when the returned value drops.
    pub async fn start_throwaway() -> anyhow::Result<TestPostgres> {
        let cluster = Cluster::start().await?;
        let port = cluster.port;
        ensure!(
            answers(LOCAL_HOST, port).await,
            "throwaway PostgreSQL on port {port} does not answer"
        );
        Ok(TestPostgres {
            host: LOCAL_HOST.to_owned(),
            port,
            cluster: Some(cluster),
        })
    }

    /// Whether this server was started by the fixture (rather than being the local one).
    /// Stops a throwaway server (an outage); [`TestPostgres::resume`] brings it back on the
    /// same port with the same data.
    pub async fn pause(&self) -> anyhow::Result<()> {
        let cluster = self
            .cluster
            .as_ref()
            .context("only a throwaway server can be paused")?;
        let mut stop = cluster.tool("pg_ctl");
        stop.arg("-D")
            .arg(&cluster.data)
            .args(["-m", "fast", "-w", "stop"]);
        run(&mut stop, "pg_ctl stop").await
    }

    pub async fn resume(&self) -> anyhow::Result<()> {
        let cluster = self
            .cluster
            .as_ref()
            .context("only a throwaway server can be resumed")?;
        cluster.pg_ctl_start().await
    }

    pub fn is_throwaway(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL for database `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@{}:{}/{database}", self.host, self.port)
    }

    /// Connection URL of the maintenance database, for superuser work.
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// Creates an empty database with a unique name and returns its connection URL.
    ///
    /// The name carries its creation time, so the first call of a test process can drop what
    /// earlier runs left behind on a long-lived server (each run leaves dozens of databases,
    /// and CI shares the machine's disk); see [`sweep_stale_databases`].
    pub async fn fresh_database(&self) -> anyhow::Result<String> {
        let now = unix_now();
        let name = format!("{DATABASE_PREFIX}{now:x}_{:08x}", rand::random::<u32>());
        let mut conn = PgConnection::connect(&self.admin_url())
            .await
            .context("connecting to create a test database")?;
        SWEPT
            .get_or_init(|| sweep_stale_databases(&mut conn, now))
            .await;
        // The name is our own hex, so splicing it in is safe; CREATE DATABASE takes no binds.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await?;
        Ok(self.url(&name))
    }
}

const DATABASE_PREFIX: &str = "lessor_test_";
/// Older test databases belong to runs that ended: no test run lasts this long.
const STALE_AFTER_SECS: u64 = 6 * 3600;
static SWEPT: OnceCell<()> = OnceCell::const_new();

fn unix_now() -> u64 {
    use lessor_sdk::Clock;
    u64::try_from(lessor_sdk::SystemClock.now().unix_timestamp()).unwrap_or(0)
}

/// Drops test databases created more than [`STALE_AFTER_SECS`] before `now` (or named the old
/// way, without a time). Without `FORCE`: a database somebody is still connected to stays.
/// Failures are ignored; sweeping is housekeeping, not part of any test.
async fn sweep_stale_databases(conn: &mut PgConnection, now: u64) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_catalog.pg_database WHERE starts_with(datname, $1)",
    )
    .bind(DATABASE_PREFIX)
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let Some(rest) = name.strip_prefix(DATABASE_PREFIX) else {
            continue;
        };
        // Only names of the two shapes this module makes: hex digits and underscores.
        let ours = rest
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit() || byte == b'_');
        let created = rest
            .split_once('_')
            .and_then(|(time, _)| u64::from_str_radix(time, 16).ok());
        let stale = created.is_none_or(|created| now.saturating_sub(created) > STALE_AFTER_SECS);
        if stale && ours {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A name suffix no other test uses: role names are cluster-wide and tests share the server.
pub fn unique_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A database for the PostgreSQL secrets engine to manage: fresh, with a superuser of its
/// own for the engine to log in as (so its password is a secret the test can look for), and
/// the prefix of the role names the engine will create there.
pub struct TargetDatabase {
    /// Superuser `postgres` URL of the database, for the test's own checks.
    pub url: String,
    pub root_user: String,
    pub root_password: String,
    pub prefix: String,
}

impl std::fmt::Debug for TargetDatabase {
    /// Without the root password: tests grep logs and reports for it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetDatabase")
            .field("url", &self.url)
            .field("root_user", &self.root_user)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TargetDatabase {
    /// A fresh database on `server` and its root role; `label` (a plain word) names the test
    /// in the role names.
    pub async fn create(server: &TestPostgres, label: &str) -> anyhow::Result<TargetDatabase> {
        let url = server.fresh_database().await?;
        let suffix = unique_suffix();
        let target = TargetDatabase {
            url,
            root_user: format!("lessor_{label}_root_{suffix}"),
            root_password: format!("{label}-root-password-{suffix}"),
            prefix: format!("{label}{suffix}"),
        };
        // Both names are the label and our own hex; CREATE ROLE takes no binds.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE ROLE \"{}\" WITH LOGIN SUPERUSER PASSWORD '{}'",
            target.root_user, target.root_password
        )))
        .execute(&mut target.admin().await?)
        .await
        .with_context(|| format!("creating role {}", target.root_user))?;
        Ok(target)
    }

    /// A superuser connection to the database.
    pub async fn admin(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(&self.url)
            .await
            .context("connecting to the target database")
    }

    /// The engine's `connection_url`: this database, with its username and password templated.
    pub fn connection_url(&self) -> String {
        let host_and_db = self
            .url
            .split_once('@')
            .map_or(self.url.as_str(), |(_, rest)| rest);
        format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host_and_db}")
    }

    /// The body of `database/config/NAME` for this database: the engine logs in as the root
    /// role and names the roles it creates `PREFIX_<random>`.
    pub fn engine_config(&self, allowed_roles: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": self.connection_url(),
            "username": self.root_user,
            "password": self.root_password,
            "allowed_roles": allowed_roles,
            "username_template": format!("{}_{{{{random 12}}}}", self.prefix),
        })
    }
}

/// Whether a trust-auth superuser connection succeeds within a few seconds.
async fn answers(host: &str, port: u16) -> bool {
    let url = format!("postgres://postgres@{host}:{port}/postgres");
    let attempt = async {
        let mut conn = PgConnection::connect(&url).await?;
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        conn.close().await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Ok(()))
    )
}

/// A cluster we created: its directory, how to run its tools, and the watchdog.
#[derive(Debug)]
struct Cluster {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres_user: bool,
    watchdog: Option<std::process::Child>,
    // Last field: dropped after `Drop::drop` has stopped the server.
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        let bin = postgres_bin_dir()?;
        let as_postgres_user = running_as_root()?;
        let dir = tempfile::Builder::new().prefix("lessor-pg-").tempdir()?;
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        if as_postgres_user {
            // The temp dir is 0700 root; the server user must own it to create its files.
            run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path()),
                "chown",
            )
            .await?;
        }
        let mut cluster = Cluster {
            port: 0,
            bin,
            data,
            as_postgres_user,
            watchdog: None,
            dir,
        };
        let mut initdb = cluster.tool("initdb");
        initdb.arg("-D").arg(&cluster.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        run(&mut initdb, "initdb").await?;
        cluster.watchdog = Some(cluster.spawn_watchdog()?);

        // The port is free now but could be taken before the server binds it; retry a few.
        let mut last_error = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start().await {
                Ok(()) => return Ok(cluster),
                Err(error) => last_error = Some(error),
            }
        }
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("pg_ctl start failed")))
            .with_context(|| format!("server log:\n{log_text}"))
    }

    /// Starts the server on `self.port` (used at creation and to resume after an outage).
    async fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-c port={} -c listen_addresses={LOCAL_HOST} -c unix_socket_directories={} \
             -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let mut start = self.tool("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.path().join("server.log"));
        start.args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start, "pg_ctl start").await
    }

    /// A command running `tool` from the server's bin dir as the server's OS user.
    fn tool(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn stop_command_line(&self) -> Vec<std::ffi::OsString> {
        let mut line: Vec<std::ffi::OsString> = Vec::new();
        if self.as_postgres_user {
            line.extend(["runuser", "-u", "postgres", "--"].map(Into::into));
        }
        line.push(self.bin.join("pg_ctl").into());
        line.extend(["-D".into(), self.data.clone().into()]);
        line.extend(["-m", "immediate", "-w", "stop"].map(Into::into));
        line
    }

    /// Starts `sh` polling our pid once a second; when we are gone it stops the server and
    /// removes the directory. Killed by `Drop` when the cluster is dropped normally.
    fn spawn_watchdog(&self) -> anyhow::Result<std::process::Child> {
        const SCRIPT: &str = r#"pid=$1; dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@"; rm -rf "$dir""#;
        std::process::Command::new("sh")
            .args(["-c", SCRIPT, "lessor-pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.dir.path())
            .args(self.stop_command_line())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the PostgreSQL watchdog")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let line = self.stop_command_line();
            let (program, args) = line.split_at(1);
            let stopped = std::process::Command::new(&program[0])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !stopped.is_ok_and(|status| status.success()) {
                eprintln!(
                    "warning: could not stop throwaway PostgreSQL in {}",
                    self.dir.path().display()
                );
            }
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        let Ok(version) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let bin = entry.path().join("bin");
        if bin.join("initdb").is_file() && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    match best {
        Some((_, bin)) => Ok(bin),
        None => bail!("no PostgreSQL server binaries under {}", root.display()),
    }
}

/// Root owns `/proc/self` exactly when this process runs as root (Linux).
fn running_as_root() -> anyhow::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self")
        .context("reading /proc/self")?
        .uid()
        == 0)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((LOCAL_HOST, 0))?;
    Ok(listener.local_addr()?.port())
}

async fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    ensure!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database_name(url: &str) -> String {
        let mut conn = PgConnection::connect(url).await.unwrap();
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        name
    }

    #[tokio::test]
    async fn fresh_databases_are_distinct_and_empty() {
        let pg = TestPostgres::shared().await.unwrap();
        let (a, b) = (
            pg.fresh_database().await.unwrap(),
            pg.fresh_database().await.unwrap(),
        );
        assert_ne!(a, b);
        assert!(database_name(&a).await.starts_with("lessor_test_"));
        let mut conn = PgConnection::connect(&a).await.unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 0);
    }

    #[tokio::test]
    async fn the_sweep_drops_only_stale_test_databases() {
        let pg = TestPostgres::shared().await.unwrap();
        let fresh = database_name(&pg.fresh_database().await.unwrap()).await;
        let now = unix_now();
        let old = format!(
            "{DATABASE_PREFIX}{:x}_{:08x}",
            now - STALE_AFTER_SECS - 60,
            rand::random::<u32>()
        );
        let mut conn = PgConnection::connect(&pg.admin_url()).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{old}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        sweep_stale_databases(&mut conn, now).await;
        let exists = |name: String| {
            let admin = pg.admin_url();
            async move {
                let mut conn = PgConnection::connect(&admin).await.unwrap();
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)",
                )
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .unwrap()
            }
        };
        assert!(
            !exists(old).await,
            "a database from a run hours ago is dropped"
        );
        assert!(exists(fresh).await, "this run's database stays");
    }

    #[tokio::test]
    async fn throwaway_cluster_serves_and_stops_on_drop() {
        let pg = TestPostgres::start_throwaway().await.unwrap();
        assert!(pg.is_throwaway());
        assert_ne!(pg.port(), LOCAL_PORT);
        let url = pg.fresh_database().await.unwrap();
        assert!(database_name(&url).await.starts_with("lessor_test_"));
        let port = pg.port();
        let dir = pg.cluster.as_ref().unwrap().dir.path().to_owned();
        drop(pg);
        assert!(
            !answers(LOCAL_HOST, port).await,
            "server still answers after drop"
        );
        assert!(!dir.exists(), "cluster directory left behind");
    }
}
