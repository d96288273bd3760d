//! Dynamic PostgreSQL credentials end to end: a real broker issues real login roles on a
//! real PostgreSQL, renews and revokes them, expires them on its own, survives `kill -9`
//! mid-issuance without orphans, rides out a target outage, and marks permanently failing
//! revocations irrevocable.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lessor_test_support::broker::{BrokerProcess, Storage};
use lessor_test_support::postgres::TestPostgres;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::api::{self, Api};

/// A target database with its own root role and a probe table, and the role-name prefix
/// that marks this test's roles (roles are cluster-wide, tests share the server).
struct Target {
    url: String,
    root_user: String,
    prefix: String,
}

fn random_suffix() -> String {
    format!("{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish() as u32
}

async fn target(server: &TestPostgres) -> Target {
    let url = server.fresh_database().await.unwrap();
    let suffix = random_suffix();
    let root_user = format!("lessor_root_{suffix}");
    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {root_user} WITH LOGIN SUPERUSER PASSWORD 'initial-root-password';
         CREATE TABLE lessor_probe (id int); INSERT INTO lessor_probe VALUES (42);"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    Target {
        url,
        root_user,
        prefix: format!("t{suffix}"),
    }
}

impl Target {
    /// The connection URL template the engine gets.
    fn connection_url(&self) -> String {
        let rest = self.url.split_once("://").unwrap().1;
        let host_and_db = rest.split_once('@').map_or(rest, |(_, h)| h);
        format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host_and_db}")
    }

    async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }

    /// Roles of this test, as (name, comment).
    async fn roles(&self) -> BTreeSet<(String, String)> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT r.rolname::text, shobj_description(r.oid, 'pg_authid') FROM pg_roles r WHERE r.rolname LIKE $1",
        )
        .bind(format!("{}%", self.prefix))
        .fetch_all(&mut self.admin().await)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(name, comment)| (name, comment.unwrap_or_default()))
            .collect()
    }
}

/// A dev broker with a `database/` mount configured for `target` and a role `app`.
async fn broker_with_role(
    storage: Storage,
    extra: &str,
    target: &Target,
    role: serde_json::Value,
) -> (BrokerProcess, Api, Vec<String>) {
    let broker = BrokerProcess::start(storage, extra).await.unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(&root_token);
    configure(&root, target, role).await;
    (broker, root, shares)
}

async fn configure(root: &Api, target: &Target, role: serde_json::Value) {
    let reply = root
        .put("sys/mounts/database", json!({"type": "database"}))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let reply = root
        .put(
            "database/config/main",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": target.connection_url(),
                "username": target.root_user,
                "password": "initial-root-password",
                "allowed_roles": ["app"],
                "username_template": format!("{}_{{{{random 12}}}}", target.prefix),
            }),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let reply = root.put("database/roles/app", role).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
}

fn standard_role(default_ttl: &str, max_ttl: &str) -> serde_json::Value {
    json!({
        "db_name": "main",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "GRANT SELECT ON lessor_probe TO \"{{name}}\";"
        ],
        "default_ttl": default_ttl,
        "max_ttl": max_ttl,
    })
}

fn user_url(target: &Target, username: &str, password: &str) -> String {
    let rest = target.url.split_once("://").unwrap().1;
    let host_and_db = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("postgres://{username}:{password}@{host_and_db}")
}

async fn valid_until(target: &Target, username: &str) -> Option<String> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1")
            .bind(username)
            .fetch_optional(&mut target.admin().await)
            .await
            .unwrap();
    row.and_then(|(until,)| until)
}

#[tokio::test]
async fn issue_connect_renew_revoke() {
    let server = TestPostgres::shared().await.unwrap();
    let target = target(server).await;
    let (broker, root, _) =
        broker_with_role(Storage::Sqlite, "", &target, standard_role("1h", "2h")).await;

    let creds = root.get("database/creds/app").await;
    assert_eq!(creds.status, 200, "{:?}", creds.body);
    let lease_id = creds.body["lease_id"].as_str().unwrap().to_string();
    assert!(lease_id.starts_with("database/creds/app/"), "{lease_id}");
    assert_eq!(creds.body["lease_duration"], 3600);
    assert_eq!(creds.body["renewable"], true);
    let username = creds.body["data"]["username"].as_str().unwrap().to_string();
    let password = creds.body["data"]["password"].as_str().unwrap().to_string();
    assert!(username.starts_with(&target.prefix));

    // The credential works, and the role is tagged with its lease.
    let mut session = PgConnection::connect(&user_url(&target, &username, &password))
        .await
        .unwrap();
    let (value,): (i32,) = sqlx::query_as("SELECT id FROM lessor_probe")
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert_eq!(value, 42);
    let roles = target.roles().await;
    assert!(
        roles
            .iter()
            .any(|(name, comment)| *name == username && comment.contains(&lease_id)),
        "{roles:?}"
    );

    let lookup = root
        .put("sys/leases/lookup", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(lookup.status, 200, "{:?}", lookup.body);
    assert!(lookup.body["data"]["ttl"].as_i64().unwrap() > 3500);

    // Renew moves VALID UNTIL; asking past max_ttl is capped, with a warning.
    let before = valid_until(&target, &username).await.unwrap();
    let renewed = root
        .put(
            "sys/leases/renew",
            json!({"lease_id": lease_id, "increment": "90m"}),
        )
        .await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    assert_eq!(renewed.body["lease_duration"], 5400);
    let after = valid_until(&target, &username).await.unwrap();
    assert_ne!(before, after, "renew must move VALID UNTIL");
    let capped = root
        .put(
            "sys/leases/renew",
            json!({"lease_id": lease_id, "increment": "5h"}),
        )
        .await;
    assert_eq!(capped.status, 200, "{:?}", capped.body);
    assert!(capped.body["lease_duration"].as_u64().unwrap() <= 7200);
    assert!(
        capped.body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("capped"),
        "{:?}",
        capped.body
    );

    // Revoke: the role is gone and its open session terminated.
    let revoked = root
        .put("sys/leases/revoke", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    assert!(target.roles().await.is_empty());
    assert!(
        sqlx::query("SELECT 1").execute(&mut session).await.is_err(),
        "the session survived revocation"
    );
    let again = root
        .put("sys/leases/renew", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(
        again.status, 400,
        "renewing a revoked lease: {:?}",
        again.body
    );
    assert_eq!(
        root.put("sys/leases/revoke", json!({"lease_id": lease_id}))
            .await
            .status,
        204,
        "revoke is idempotent"
    );

    // Revoking a token revokes the leases it obtained.
    let child = root
        .put("auth/token/create", json!({"policies": ["root"]}))
        .await;
    let child = root.with_token(child.body["auth"]["client_token"].as_str().unwrap());
    let owned = child.get("database/creds/app").await;
    assert_eq!(owned.status, 200);
    assert_eq!(target.roles().await.len(), 1);
    assert_eq!(
        child.put("auth/token/revoke-self", json!({})).await.status,
        204
    );
    assert!(
        target.roles().await.is_empty(),
        "the token's lease outlived it"
    );

    let logs = broker.logs();
    let leaked: Vec<String> = logs
        .lines()
        .filter(|line| line.contains(&password))
        .map(|line| line.replace(&password, "<PASSWORD>"))
        .collect();
    assert!(
        leaked.is_empty(),
        "a database password reached the log: {leaked:#?}"
    );
    assert!(!logs.contains("initial-root-password"));
}

#[tokio::test]
async fn short_leases_expire_on_their_own() {
    let server = TestPostgres::shared().await.unwrap();
    let target = target(server).await;
    let (_broker, root, _) =
        broker_with_role(Storage::Sqlite, "", &target, standard_role("2s", "1h")).await;

    let creds = root.get("database/creds/app").await;
    assert_eq!(creds.status, 200, "{:?}", creds.body);
    let issued = Instant::now();
    let username = creds.body["data"]["username"].as_str().unwrap().to_string();
    loop {
        if !target
            .roles()
            .await
            .iter()
            .any(|(name, _)| *name == username)
        {
            break;
        }
        assert!(
            issued.elapsed() < Duration::from_secs(3),
            "not revoked within 1 s of expiry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("2 s lease revoked {:?} after issue", issued.elapsed());

    // 500 leases expiring together are all revoked.
    root.put("database/roles/app", standard_role("30s", "1h"))
        .await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let root = root.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..(500 / 16 + usize::from(worker < 500 % 16)) {
                let reply = root.get("database/creds/app").await;
                assert_eq!(reply.status, 200, "{:?}", reply.body);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let issued_in = start.elapsed();
    let live = target.roles().await.len();
    assert!(live > 0 && live <= 500, "{live} roles");
    // Expiring together, they are revoked as fast as the target database drops roles; allow
    // for a loaded machine, and report how long it took.
    let deadline = start + issued_in + Duration::from_secs(30) + Duration::from_secs(30);
    loop {
        let left = target.roles().await.len();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} roles left after their leases expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let count = root.get("sys/leases/count?type=all").await;
    assert_eq!(count.body["data"]["lease_count"], 0, "{:?}", count.body);
    println!(
        "500 leases issued in {issued_in:?}, all revoked by {:?}",
        start.elapsed()
    );
}

/// Issues credentials from `clients` concurrent loops until `stop`; some clients give up on
/// their requests after a few milliseconds (aborting mid-request).
fn hammer(
    root: &Api,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..clients)
        .map(|index| {
            let root = root.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let impatient = reqwest::Client::builder()
                    .timeout(Duration::from_millis(30))
                    .build()
                    .unwrap();
                let mut issued = 0;
                while !stop.load(Ordering::SeqCst) {
                    if index % 8 == 0 {
                        let _ = impatient
                            .get(format!("{}database/creds/app", root.base()))
                            .header("X-Vault-Token", root.token.as_deref().unwrap())
                            .send()
                            .await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    } else if root.try_get("database/creds/app").await.is_some() {
                        issued += 1;
                    }
                }
                issued
            })
        })
        .collect()
}

#[tokio::test]
async fn kill_dash_nine_mid_issuance_leaves_no_orphans() {
    let server = TestPostgres::shared().await.unwrap();
    let target = target(server).await;
    let storage_url = server.fresh_database().await.unwrap();
    let (broker, root, shares) = broker_with_role(
        Storage::Postgres {
            connection_url: storage_url,
        },
        "",
        &target,
        standard_role("1h", "2h"),
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let clients = hammer(&root, 32, stop.clone());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let broker = broker.restart().await.unwrap(); // SIGKILL, then a new process
    stop.store(true, Ordering::SeqCst);
    let mut issued = 0;
    for client in clients {
        issued += client.await.unwrap();
    }
    if issued <= 10 {
        let probe = root.get("database/creds/app").await;
        panic!(
            "too little load to mean anything: {issued}; a request now answers {} {:?}",
            probe.status, probe.body
        );
    }
    let anonymous = Api::new(&broker.address());
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(root.token.as_deref().unwrap());

    // Converges: every role has a live lease and every live lease has its role.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let roles = target.roles().await;
        let leases = live_leases(&root).await;
        let role_leases: BTreeSet<String> = roles
            .iter()
            .map(|(_, comment)| lease_from_comment(comment))
            .collect();
        if role_leases == leases {
            println!(
                "{issued} credentials issued before kill -9; {} live after restart, no orphans",
                leases.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphans after restart: roles without lease {:?}, leases without role {:?}",
            role_leases.difference(&leases).collect::<Vec<_>>(),
            leases.difference(&role_leases).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn lease_from_comment(comment: &str) -> String {
    comment
        .split_whitespace()
        .find(|word| word.starts_with("database/creds/"))
        .unwrap_or(comment)
        .to_string()
}

async fn live_leases(root: &Api) -> BTreeSet<String> {
    let reply = root.list("sys/leases/lookup/database/creds/app/").await;
    match reply.status {
        404 => BTreeSet::new(),
        200 => reply.body["data"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| format!("database/creds/app/{}", key.as_str().unwrap()))
            .collect(),
        other => panic!("listing leases failed with {other}: {:?}", reply.body),
    }
}

#[tokio::test]
async fn target_outage_recovers_and_permanent_failures_become_irrevocable() {
    let outage_server = TestPostgres::start_throwaway().await.unwrap();
    let target = target(&outage_server).await;
    let (broker, root, _) = broker_with_role(
        Storage::Sqlite,
        "lease_revocation_attempts = 20",
        &target,
        standard_role("2s", "1h"),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(root.get("database/creds/app").await.status, 200);
    }
    outage_server.pause().await.unwrap();
    let down = Instant::now();
    // Issuance fails clearly while the target is down, without leaking the password.
    let failed = root.get("database/creds/app").await;
    assert!(failed.status >= 500, "{:?}", failed.body);
    assert!(!failed.body.to_string().contains("initial-root-password"));
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    outage_server.resume().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let roles = target.roles().await;
        let count = root.get("sys/leases/count?type=all").await.body["data"]["lease_count"]
            .as_u64()
            .unwrap();
        if roles.is_empty() && count == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} roles, {count} leases left after the outage",
            roles.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let irrevocable = root.get("sys/leases/count?type=irrevocable").await;
    assert_eq!(irrevocable.body["data"]["lease_count"], 0);
    drop(broker);

    // A revocation that can never succeed: irrevocable after the retry limit, visible.
    let (_broker, root, _) = broker_with_role(
        Storage::Sqlite,
        "lease_revocation_attempts = 3",
        &target,
        json!({
            "db_name": "main",
            "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
            "revocation_statements": ["SELECT 1/0;"],
            "default_ttl": "1s",
        }),
    )
    .await;
    let creds = root.get("database/creds/app").await;
    assert_eq!(creds.status, 200, "{:?}", creds.body);
    let lease_id = creds.body["lease_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = root.get("sys/leases/count?type=irrevocable").await;
        if count.body["data"]["lease_count"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never became irrevocable: {:?}",
            count.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let listed = root.get("sys/leases?type=irrevocable").await;
    assert_eq!(listed.body["data"]["leases"][0]["lease_id"], lease_id);
    assert!(
        !listed.body["data"]["leases"][0]["error"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // revoke-force clears it without the engine.
    assert_eq!(
        root.put("sys/leases/revoke-force/database/creds/app", json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        root.get("sys/leases/count?type=irrevocable").await.body["data"]["lease_count"],
        0
    );
}

#[tokio::test]
async fn the_cli_reads_credentials_and_manages_their_leases() {
    let server = TestPostgres::shared().await.unwrap();
    let target = target(server).await;
    let (broker, root, _) =
        broker_with_role(Storage::Memory, "", &target, standard_role("1h", "2h")).await;
    let cli = crate::cli::Cli {
        binary: lessor_test_support::broker::lessor_binary().await.unwrap(),
        address: broker.address(),
        home: tempfile::tempdir().unwrap(),
    };
    let token = root.token.clone();
    let token = token.as_deref();

    let creds = cli.json(token, &["read", "-format=json", "database/creds/app"]);
    let lease_id = creds["lease_id"].as_str().unwrap().to_string();
    assert!(
        creds["data"]["username"]
            .as_str()
            .unwrap()
            .starts_with(&target.prefix)
    );
    let table = cli.ok(token, &["read", "database/creds/app"]);
    assert!(
        table.contains("lease_id") && table.contains("password"),
        "{table}"
    );

    let lookup = cli.ok(token, &["lease", "lookup", &lease_id]);
    assert!(lookup.contains("expire_time"), "{lookup}");
    let renewed = cli.json(
        token,
        &[
            "lease",
            "renew",
            "-increment=30m",
            "-format=json",
            &lease_id,
        ],
    );
    assert_eq!(renewed["lease_duration"], 1800);
    cli.ok(token, &["lease", "revoke", &lease_id]);
    assert_eq!(
        target.roles().await.len(),
        1,
        "the table read made a second credential"
    );
    cli.ok(token, &["lease", "revoke", "-prefix", "database/creds/app"]);
    assert!(target.roles().await.is_empty());
    let missing = cli.run(token, &["lease", "renew", &lease_id]);
    assert_eq!(missing.status.code(), Some(1));
}
