//! High availability end to end: three real broker processes on loopback share one real
//! PostgreSQL database. Every node gets the same config but for its port, `api_addr` and the
//! `application_name` in its connection URL (so the database can tell whose session is whose);
//! the cluster is initialised once and each node unsealed with the shares.
//!
//! What is shown: exactly one active node, writes through any node landing, `sys/leader`
//! agreeing everywhere; a `kill -9` of the active node with a standby serving again (the time is
//! printed), reading the keyring the old active node rotated, and the leases issued before it
//! renewed and revoked exactly once at the target; a partition of the active node from
//! PostgreSQL after which it steps down and never writes again (checked by a trigger that
//! logs, in the database, who wrote under which epoch); a sealed active node replaced by a
//! standby; forwarding with the client's address in the active node's audit log, and 307s
//! from a standby that does not forward.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lessor_test_support::broker::{BrokerProcess, lessor_binary};
use lessor_test_support::postgres::{TargetDatabase, TestPostgres, unique_suffix};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::api::{self, Api};

/// How long any one convergence may take before the test fails (never a timing assertion:
/// the takeover time itself is printed, not asserted).
const DEADLINE: Duration = Duration::from_secs(30);

/// The leadership advisory lock as `pg_locks` shows it: the key `lessorHA` as a big-endian
/// i64, split into its high (`classid`) and low (`objid`) halves.
const LOCK_CLASSID: i64 = 0x6c65_7373;
const LOCK_OBJID: i64 = 0x6f72_4841;

struct Node {
    broker: BrokerProcess,
    /// The `application_name` of its storage sessions.
    app: String,
}

impl Node {
    fn api(&self) -> Api {
        Api::new(&self.broker.address())
    }

    /// Its `api_addr`, as the others forward to it.
    fn api_addr(&self) -> String {
        self.broker.address()
    }
}

struct Cluster {
    storage_url: String,
    nodes: Vec<Node>,
    keys: Vec<String>,
    root_token: String,
}

/// Starts one HA node on `storage_url`; `extra` goes at the end of its config.
async fn start_node(storage_url: &str, app: &str, extra: &str) -> Node {
    let url = format!("{storage_url}?application_name={app}");
    let broker = BrokerProcess::start_with_config(|port| {
        format!(
            r#"storage "postgresql" {{
  connection_url = "{url}"
  ha_enabled = "true"
  max_parallel = 4
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
  x_forwarded_for_authorized_addrs = "127.0.0.1/32"
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{port}"
{extra}
"#
        )
    })
    .await
    .unwrap();
    Node {
        broker,
        app: app.to_string(),
    }
}

/// `count` nodes on a fresh database, initialised (3 shares, threshold 2) but still sealed.
/// `extra(i)` is node i's extra config.
async fn cluster(count: usize, extra: impl Fn(usize) -> String) -> Cluster {
    let server = TestPostgres::shared().await.unwrap();
    let storage_url = server.fresh_database().await.unwrap();
    let run = unique_suffix();
    let mut nodes = Vec::new();
    // Started one after the other: the first one creates the schema.
    for index in 0..count {
        nodes.push(
            start_node(
                &storage_url,
                &format!("lessor-{run}-{index}"),
                &extra(index),
            )
            .await,
        );
    }
    let (keys, _, root_token) = api::init(&nodes[0].api(), 3, 2).await;
    Cluster {
        storage_url,
        nodes,
        keys,
        root_token,
    }
}

impl Cluster {
    async fn unseal(&self, index: usize) {
        api::unseal(&self.nodes[index].api(), &self.keys[..2]).await;
    }

    /// Unseals every node at once (each with its own progress).
    async fn unseal_all(&self) {
        let tasks: Vec<_> = self
            .nodes
            .iter()
            .map(|node| {
                let api = node.api();
                let keys = self.keys[..2].to_vec();
                tokio::spawn(async move { api::unseal(&api, &keys).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }

    fn root(&self, index: usize) -> Api {
        self.nodes[index].api().with_token(&self.root_token)
    }

    async fn storage(&self) -> PgConnection {
        PgConnection::connect(&self.storage_url).await.unwrap()
    }

    /// Waits until exactly one of `candidates` answers `sys/health` 200 and every other one
    /// 429 (standby); returns the active node's index.
    async fn wait_for_active(&self, candidates: &[usize]) -> usize {
        let started = Instant::now();
        loop {
            let mut codes = BTreeMap::new();
            for &index in candidates {
                codes.insert(index, health(&self.nodes[index]).await);
            }
            let active: Vec<usize> = codes
                .iter()
                .filter(|(_, code)| **code == Some(200))
                .map(|(index, _)| *index)
                .collect();
            let standbys = codes.values().filter(|code| **code == Some(429)).count();
            if active.len() == 1 && standbys + 1 == candidates.len() {
                return active[0];
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no single active node among {candidates:?}: {codes:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every one of `candidates` reports `active` in `sys/leader`.
    async fn wait_for_leader_agreement(&self, candidates: &[usize], active: usize) {
        let expected = self.nodes[active].api_addr();
        let started = Instant::now();
        loop {
            let mut views = Vec::new();
            for &index in candidates {
                let reply = self.nodes[index].api().get("sys/leader").await;
                views.push((index, reply.status, reply.body));
            }
            let agreed = views.iter().all(|(index, status, body)| {
                *status == 200
                    && body["ha_enabled"] == true
                    && body["is_self"] == (*index == active)
                    && body["leader_address"] == expected.as_str()
                    && body["leader_cluster_address"]
                        == expected.replace("http://", "https://").as_str()
            });
            if agreed {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "sys/leader does not agree on {expected}: {views:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `sys/health` status, or `None` when the node does not answer.
async fn health(node: &Node) -> Option<u16> {
    let client = reqwest::Client::new();
    let response = client
        .get(node.broker.url("sys/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// KV v2 at `secret/`, through `root` (any node).
async fn mount_kv(root: &Api) {
    let reply = root
        .put(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
}

async fn put_secret(api: &Api, name: &str, value: &str) -> u16 {
    api.put(
        &format!("secret/data/{name}"),
        json!({"data": {"v": value}}),
    )
    .await
    .status
}

#[tokio::test]
async fn one_active_writes_anywhere_and_a_killed_active_is_replaced() {
    let mut cluster = cluster(3, |_| String::new()).await;
    cluster.unseal_all().await;
    let all = [0, 1, 2];
    let active = cluster.wait_for_active(&all).await;
    cluster.wait_for_leader_agreement(&all, active).await;
    let standby = (active + 1) % 3;

    // Writes through every node land, and every node reads them all.
    mount_kv(&cluster.root(standby)).await;
    for index in all {
        assert_eq!(
            put_secret(
                &cluster.root(index),
                &format!("from-{index}"),
                &format!("v{index}")
            )
            .await,
            200
        );
    }
    for reader in all {
        for index in all {
            let reply = cluster
                .root(reader)
                .get(&format!("secret/data/from-{index}"))
                .await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            assert_eq!(reply.body["data"]["data"]["v"], format!("v{index}"));
        }
    }
    // The standbys served all that by forwarding; they are still standbys.
    assert_eq!(cluster.wait_for_active(&all).await, active);

    // The keyring rotated on the active node: whoever leads next must read the new term.
    assert_eq!(
        cluster
            .root(standby)
            .put("sys/rotate", json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        put_secret(&cluster.root(standby), "after-rotate", "rotated").await,
        200
    );

    // Leases on a real target whose revocation statement logs each revocation.
    let target = Target::new().await;
    target.configure(&cluster.root(standby)).await;
    let renewed = target.issue(&cluster.root(standby)).await;
    let expiring = target.issue(&cluster.root(active)).await;

    // kill -9 the active node; a survivor must serve a write again.
    cluster.nodes[active].broker.kill().await.unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<usize> = all.iter().copied().filter(|i| *i != active).collect();
    let writer = cluster.root(survivors[0]);
    loop {
        if put_secret(&writer, "after-kill", "x").await == 200 {
            break;
        }
        assert!(killed_at.elapsed() < DEADLINE, "nobody took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "HA takeover: a standby served a write {} ms after kill -9 of the active node",
        killed_at.elapsed().as_millis()
    );
    let new_active = cluster.wait_for_active(&survivors).await;
    assert_ne!(new_active, active);
    cluster
        .wait_for_leader_agreement(&survivors, new_active)
        .await;
    // The new leader reads the rotated keyring: data of both terms reads back.
    let root = cluster.root(new_active);
    let key_status = root.get("sys/key-status").await;
    assert_eq!(key_status.body["data"]["term"], 2, "{:?}", key_status.body);
    for (name, value) in [("from-0", "v0"), ("after-rotate", "rotated")] {
        let reply = root.get(&format!("secret/data/{name}")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["data"]["data"]["v"], value);
    }

    // The lease issued before the kill renews through the remaining standby (forwarded).
    let other = survivors
        .iter()
        .copied()
        .find(|i| *i != new_active)
        .unwrap();
    let reply = cluster
        .root(other)
        .put(
            "sys/leases/renew",
            json!({"lease_id": renewed.lease_id, "increment": "10s"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["lease_id"], renewed.lease_id.as_str());

    // Both leases expire and are revoked exactly once at the target.
    let started = Instant::now();
    loop {
        let counts = target.revocations().await;
        if counts.contains_key(&renewed.username) && counts.contains_key(&expiring.username) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "leases not revoked: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Whatever was still to come (a second revocation) has had time to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = target.revocations().await;
    assert_eq!(counts.get(&renewed.username), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&expiring.username), Some(&1), "{counts:?}");
    assert!(!target.role_exists(&renewed.username).await);
    assert!(!target.role_exists(&expiring.username).await);
    for lease in [&renewed, &expiring] {
        let reply = cluster
            .root(new_active)
            .put("sys/leases/lookup", json!({"lease_id": lease.lease_id}))
            .await;
        assert_eq!(reply.status, 400, "{:?}", reply.body);
    }
}

#[tokio::test]
async fn a_partitioned_active_steps_down_and_never_writes_again_and_sealing_hands_over() {
    let cluster = cluster(3, |_| String::new()).await;
    let mut storage = cluster.storage().await;
    // Every write to the broker's tables is logged with the writer's session name and the
    // leadership epoch it committed under (a fenced write holds the epoch row while it runs).
    sqlx::raw_sql(
        "CREATE TABLE ha_write_log (app text NOT NULL, tbl text NOT NULL, epoch bigint NOT NULL,
                                    at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE FUNCTION ha_log_write() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO ha_write_log (app, tbl, epoch)
             SELECT current_setting('application_name'), TG_TABLE_NAME, epoch
             FROM lessor_ha_leader WHERE id = 1;
           RETURN NULL;
         END $$;
         CREATE TRIGGER ha_log_entries AFTER INSERT OR UPDATE OR DELETE ON lessor_entries
           FOR EACH ROW EXECUTE FUNCTION ha_log_write();
         CREATE TRIGGER ha_log_leases AFTER INSERT OR UPDATE OR DELETE ON lessor_leases
           FOR EACH ROW EXECUTE FUNCTION ha_log_write();",
    )
    .execute(&mut storage)
    .await
    .unwrap();
    cluster.unseal_all().await;
    let all = [0, 1, 2];
    let old = cluster.wait_for_active(&all).await;
    mount_kv(&cluster.root(old)).await;
    // Tokens that expire around the cut, so the old active has revocations to write.
    for ttl in ["2s", "3s", "4s", "5s"] {
        let reply = cluster
            .root(old)
            .put(
                "auth/token/create",
                json!({"ttl": ttl, "policies": ["default"]}),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let (old_epoch,): (i64,) = sqlx::query_as("SELECT epoch FROM lessor_ha_leader")
        .fetch_one(&mut storage)
        .await
        .unwrap();

    // Clients keep writing through the old active across the cut.
    let writing = Arc::new(AtomicBool::new(true));
    let statuses = tokio::spawn({
        let writer = cluster.root(old);
        let writing = Arc::clone(&writing);
        async move {
            let mut statuses = BTreeMap::<u16, u32>::new();
            let mut n = 0;
            while writing.load(Ordering::SeqCst) {
                n += 1;
                let status = put_secret(&writer, &format!("busy-{}", n % 8), "x").await;
                *statuses.entry(status).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The cut: every session of the old active ends, its leadership lock session included.
    let terminated: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database()
           AND (application_name = $1
                OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
                           AND classid::int8 = $2 AND objid::int8 = $3 AND objsubid = 1))",
    )
    .bind(&cluster.nodes[old].app)
    .bind(LOCK_CLASSID)
    .bind(LOCK_OBJID)
    .fetch_all(&mut storage)
    .await
    .unwrap();
    assert!(
        terminated.len() >= 2,
        "the lock session and a pool session: {terminated:?}"
    );

    let others: Vec<usize> = all.iter().copied().filter(|i| *i != old).collect();
    let started = Instant::now();
    let new = loop {
        let mut active = None;
        for &index in &others {
            if health(&cluster.nodes[index]).await == Some(200) {
                active = Some(index);
            }
        }
        if let Some(active) = active {
            break active;
        }
        assert!(started.elapsed() < DEADLINE, "no standby took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The old active noticed and stepped down; it is a standby that forwards now.
    assert_eq!(cluster.wait_for_active(&all).await, new);
    cluster.wait_for_leader_agreement(&all, new).await;
    assert!(
        cluster.nodes[old]
            .broker
            .log_stream()
            .contains("stepped down"),
        "{}",
        cluster.nodes[old].broker.log_stream()
    );
    assert_eq!(put_secret(&cluster.root(old), "after-cut", "y").await, 200);

    // Let the busy writer and the expiring tokens run on the new leadership for a while.
    let (before,): (i64,) = sqlx::query_as("SELECT count(*) FROM ha_write_log WHERE app = $1")
        .bind(&cluster.nodes[old].app)
        .fetch_one(&mut storage)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    writing.store(false, Ordering::SeqCst);
    let statuses = statuses.await.unwrap();
    println!("writes through the old active across the cut, by status: {statuses:?}");

    // From the storage side: the old active wrote before the cut, only ever under its own
    // epoch, and not at all since it stepped down, while others kept writing.
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT app, epoch, count(*) FROM ha_write_log GROUP BY app, epoch ORDER BY 1, 2",
    )
    .fetch_all(&mut storage)
    .await
    .unwrap();
    let old_app = &cluster.nodes[old].app;
    let new_app = &cluster.nodes[new].app;
    assert!(
        rows.iter()
            .any(|(app, epoch, _)| app == old_app && *epoch == old_epoch),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(app, epoch, _)| app != old_app || *epoch == old_epoch),
        "the old active wrote under another epoch: {rows:?}"
    );
    assert!(
        rows.iter()
            .any(|(app, epoch, _)| app == new_app && *epoch > old_epoch),
        "{rows:?}"
    );
    let (after,): (i64,) = sqlx::query_as("SELECT count(*) FROM ha_write_log WHERE app = $1")
        .bind(old_app)
        .fetch_one(&mut storage)
        .await
        .unwrap();
    assert_eq!(before, after, "the old active wrote after stepping down");
    // The expired tokens were revoked (by the new active): their lease rows are gone.
    let (tokens,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM lessor_leases WHERE id LIKE 'auth/token/create/%'")
            .fetch_one(&mut storage)
            .await
            .unwrap();
    assert_eq!(tokens, 0);

    // Sealing the active hands over to a standby at once.
    let reply = cluster.root(new).put("sys/seal", json!({})).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(health(&cluster.nodes[new]).await, Some(503));
    let rest: Vec<usize> = others
        .iter()
        .copied()
        .filter(|i| *i != new)
        .chain([old])
        .collect();
    let next = cluster.wait_for_active(&rest).await;
    assert_ne!(next, new);
    assert_eq!(
        put_secret(&cluster.root(next), "after-seal", "z").await,
        200
    );
    // A standby cannot be sealed through the API (it has no token store); the active can.
    let standby = rest.iter().copied().find(|i| *i != next).unwrap();
    let reply = cluster.root(standby).put("sys/seal", json!({})).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
}

#[tokio::test]
async fn standbys_forward_with_the_client_address_or_redirect() {
    // Node 2 redirects instead of forwarding.
    let cluster = cluster(3, |index| {
        if index == 2 {
            "disable_forwarding = true".to_string()
        } else {
            String::new()
        }
    })
    .await;
    // Node 0 is unsealed first, so it leads.
    cluster.unseal(0).await;
    assert_eq!(cluster.wait_for_active(&[0]).await, 0);
    cluster.unseal(1).await;
    cluster.unseal(2).await;
    assert_eq!(cluster.wait_for_active(&[0, 1, 2]).await, 0);
    cluster.wait_for_leader_agreement(&[0, 1, 2], 0).await;

    // Health codes of a standby, with Vault's overrides.
    let client = reqwest::Client::new();
    for (query, code) in [
        ("", 429),
        ("?standbyok=true", 200),
        ("?standbycode=472", 472),
    ] {
        let response = client
            .get(format!(
                "{}{query}",
                cluster.nodes[1].broker.url("sys/health")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (body["standby"].clone(), body["sealed"].clone()),
            (json!(true), json!(false))
        );
    }

    // The active node's audit log records the client behind the forwarding standby; a client
    // that claims an address itself is not believed.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let reply = cluster
        .root(1)
        .put(
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.display().to_string()}}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let from = |address: &str| {
        reqwest::Client::builder()
            .local_address(address.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let forwarded = from("127.0.0.2")
        .get(cluster.nodes[1].broker.url("auth/token/lookup-self"))
        .header("X-Vault-Token", &cluster.root_token)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 200);
    let spoofed = from("127.0.0.3")
        .get(cluster.nodes[0].broker.url("auth/token/lookup-self"))
        .header("X-Vault-Token", &cluster.root_token)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 200);
    let addresses: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| {
            line["type"] == "request" && line["request"]["path"] == "auth/token/lookup-self"
        })
        .map(|line| {
            line["request"]["remote_address"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(addresses, ["127.0.0.2", "127.0.0.3"]);

    // Node 2 answers 307 to the active node, path and query intact.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = no_redirects
        .get(format!(
            "{}?list=true",
            cluster.nodes[2].broker.url("secret/metadata/")
        ))
        .header("X-Vault-Token", &cluster.root_token)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 307);
    assert_eq!(
        redirect.headers()["location"],
        format!(
            "{}/v1/secret/metadata/?list=true",
            cluster.nodes[0].api_addr()
        )
        .as_str()
    );
    // A client that follows redirects gets its answer from the active node.
    let followed = cluster.root(2).get("auth/token/lookup-self").await;
    assert_eq!(followed.status, 200, "{:?}", followed.body);

    // `lessor status` on a standby names the active node.
    let cli = crate::cli::Cli {
        binary: lessor_binary().await.unwrap(),
        address: cluster.nodes[1].broker.address(),
        home: tempfile::tempdir().unwrap(),
    };
    let status = cli.ok(None, &["status"]);
    let line = |label: &str| {
        status
            .lines()
            .find(|line| line.starts_with(label))
            .map(|line| line[label.len()..].trim().to_string())
            .unwrap_or_else(|| panic!("no {label} in {status}"))
    };
    assert_eq!(line("HA Enabled"), "true");
    assert_eq!(line("HA Mode"), "standby");
    assert_eq!(line("Active Node Address"), cluster.nodes[0].api_addr());
}

/// A target database for the PostgreSQL engine whose revocation statement logs each
/// revocation in a table, so revocations are counted where they happen.
struct Target {
    database: TargetDatabase,
}

struct Issued {
    lease_id: String,
    username: String,
}

impl Target {
    async fn new() -> Self {
        let server = TestPostgres::shared().await.unwrap();
        let database = TargetDatabase::create(server, "ha").await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE revocations (name text NOT NULL,
                                       at timestamptz NOT NULL DEFAULT clock_timestamp());",
        )
        .execute(&mut database.admin().await.unwrap())
        .await
        .unwrap();
        Self { database }
    }

    async fn configure(&self, root: &Api) {
        let reply = root
            .put("sys/mounts/database", json!({"type": "database"}))
            .await;
        assert_eq!(reply.status, 204, "{:?}", reply.body);
        let reply = root
            .put(
                "database/config/main",
                self.database.engine_config(&["app"]),
            )
            .await;
        assert_eq!(reply.status, 204, "{:?}", reply.body);
        let reply = root
            .put(
                "database/roles/app",
                json!({
                    "db_name": "main",
                    "creation_statements": [
                        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
                    ],
                    "revocation_statements": [
                        "INSERT INTO revocations (name) VALUES ('{{name}}');",
                        "DROP ROLE IF EXISTS \"{{name}}\";"
                    ],
                    "default_ttl": "10s",
                    "max_ttl": "1m",
                }),
            )
            .await;
        assert_eq!(reply.status, 204, "{:?}", reply.body);
    }

    async fn issue(&self, api: &Api) -> Issued {
        let reply = api.get("database/creds/app").await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        Issued {
            lease_id: reply.body["lease_id"].as_str().unwrap().to_string(),
            username: reply.body["data"]["username"].as_str().unwrap().to_string(),
        }
    }

    /// Revocations per role name.
    async fn revocations(&self) -> BTreeMap<String, i64> {
        let mut admin = self.database.admin().await.unwrap();
        sqlx::query_as::<_, (String, i64)>("SELECT name, count(*) FROM revocations GROUP BY name")
            .fetch_all(&mut admin)
            .await
            .unwrap()
            .into_iter()
            .collect()
    }

    async fn role_exists(&self, name: &str) -> bool {
        let mut admin = self.database.admin().await.unwrap();
        let (exists,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        exists
    }
}
