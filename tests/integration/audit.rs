//! Audit devices end to end: a real broker writes a file device while a user logs in, reads
//! real PostgreSQL credentials, is denied, and has the lease revoked; the file holds every
//! decision and none of the secrets; `sys/audit-hash` finds the token; `lessor audit verify`
//! accepts the file and names the line after a change or a removal; and a device that cannot
//! write blocks requests (500, health, metrics) until its path is fixed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lessor_test_support::broker::{BrokerProcess, Storage, lessor_binary};
use lessor_test_support::postgres::{TargetDatabase, TestPostgres, unique_suffix};
use serde_json::{Value, json};

use crate::api::{self, Api};

/// The audit file's lines, parsed.
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The first line of `kind` ("request"/"response") for `path`, matching `pick`.
fn find<'a>(
    lines: &'a [Value],
    kind: &str,
    path: &str,
    pick: impl Fn(&Value) -> bool,
) -> &'a Value {
    lines
        .iter()
        .find(|line| line["type"] == kind && line["request"]["path"] == path && pick(line))
        .unwrap_or_else(|| panic!("no {kind} line for {path} in {lines:#?}"))
}

/// Runs `lessor audit verify FILE`: (exit code, stdout + stderr).
async fn verify(file: &Path) -> (i32, String) {
    let output = std::process::Command::new(lessor_binary().await.unwrap())
        .args(["audit", "verify", &file.display().to_string()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

async fn enable_file_device(root: &Api, path: &Path) {
    let reply = root
        .put(
            "sys/audit/file",
            json!({"type": "file", "description": "main", "options": {"file_path": path.display().to_string()}}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
}

#[tokio::test]
async fn the_audit_file_records_every_decision_and_no_secret() {
    let server = TestPostgres::shared().await.unwrap();
    let target = TargetDatabase::create(server, "audit").await.unwrap();

    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(&root_token);
    let log = broker.dir().join("audit.log");
    enable_file_device(&root, &log).await;
    let listed = root.get("sys/audit").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["data"]["file/"]["type"], "file");
    assert_eq!(
        listed.body["data"]["file/"]["options"]["file_path"],
        log.display().to_string()
    );

    // A database mount with a role, and a user whose policy allows reading its creds.
    assert_eq!(
        root.put("sys/mounts/database", json!({"type": "database"}))
            .await
            .status,
        204
    );
    let reply = root
        .put("database/config/main", target.engine_config(&["app"]))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let reply = root
        .put(
            "database/roles/app",
            json!({
                "db_name": "main",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
                "default_ttl": "1h",
                "max_ttl": "2h",
            }),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let policy = r#"path "database/creds/app" { capabilities = ["read"] }"#;
    assert_eq!(
        root.put("sys/policies/acl/app", json!({"policy": policy}))
            .await
            .status,
        204
    );
    assert_eq!(
        root.put("sys/auth/userpass", json!({"type": "userpass"}))
            .await
            .status,
        204
    );
    let alice_password = format!("alice-password-{}", unique_suffix());
    let reply = root
        .put(
            "auth/userpass/users/alice",
            json!({"password": alice_password, "token_policies": ["app"]}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);

    // Login, creds read, a denied request, a revoke.
    let login = anonymous
        .put(
            "auth/userpass/login/alice",
            json!({"password": alice_password}),
        )
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let alice_token = login.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let alice_accessor = login.body["auth"]["accessor"].as_str().unwrap().to_string();
    let alice = anonymous.with_token(&alice_token);
    let creds = alice.get("database/creds/app").await;
    assert_eq!(creds.status, 200, "{:?}", creds.body);
    let lease_id = creds.body["lease_id"].as_str().unwrap().to_string();
    let db_user = creds.body["data"]["username"].as_str().unwrap().to_string();
    let db_password = creds.body["data"]["password"].as_str().unwrap().to_string();
    let denied = alice.get("sys/mounts").await;
    assert_eq!(denied.status, 403);
    // audit-hash is root-protected too.
    assert_eq!(
        alice
            .put("sys/audit-hash/file", json!({"input": "x"}))
            .await
            .status,
        403
    );
    let revoke = root
        .put("sys/leases/revoke", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(revoke.status, 204, "{:?}", revoke.body);

    let hash_of = |input: &str| {
        let root = root.clone();
        let input = input.to_string();
        async move {
            let reply = root
                .put("sys/audit-hash/file", json!({"input": input}))
                .await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            reply.body["data"]["hash"].as_str().unwrap().to_string()
        }
    };
    let token_hash = hash_of(&alice_token).await;
    let accessor_hash = hash_of(&alice_accessor).await;
    let password_hash = hash_of(&alice_password).await;
    let db_password_hash = hash_of(&db_password).await;
    assert!(token_hash.starts_with("hmac-sha256:"), "{token_hash}");

    let entries = lines(&log);
    // Login: the password hashed in the request; the minted token, its identity and policies.
    let login_request = find(&entries, "request", "auth/userpass/login/alice", |_| true);
    assert_eq!(login_request["request"]["data"]["password"], password_hash);
    assert_eq!(login_request["request"]["remote_address"], "127.0.0.1");
    assert_eq!(login_request["request"]["operation"], "update");
    let login_response = find(&entries, "response", "auth/userpass/login/alice", |_| true);
    assert_eq!(
        login_response["request"]["id"],
        login_request["request"]["id"]
    );
    let minted = &login_response["response"]["auth"];
    assert_eq!(minted["client_token"], token_hash);
    assert_eq!(minted["accessor"], accessor_hash);
    assert_eq!(minted["policies"], json!(["app", "default"]));
    assert_eq!(minted["metadata"]["username"], "alice");

    // Creds: who (hashed token and accessor, policies), allowed by which policy, which lease.
    let creds_request = find(&entries, "request", "database/creds/app", |_| true);
    assert_eq!(creds_request["request"]["client_token"], token_hash);
    assert_eq!(
        creds_request["request"]["client_token_accessor"],
        accessor_hash
    );
    assert_eq!(creds_request["auth"]["display_name"], "userpass-alice");
    assert_eq!(creds_request["auth"]["policy_results"]["allowed"], true);
    assert_eq!(
        creds_request["auth"]["policy_results"]["granting_policies"],
        json!(["app"])
    );
    let creds_response = find(&entries, "response", "database/creds/app", |_| true);
    assert_eq!(creds_response["response"]["secret"]["lease_id"], lease_id);
    assert_eq!(
        creds_response["response"]["data"]["password"],
        db_password_hash
    );
    assert!(creds_response.get("error").is_none());

    // Denied: recorded with the caller, the verdict and the error, before and after.
    let denied_request = find(&entries, "request", "sys/mounts", |line| {
        line["auth"]["accessor"] == accessor_hash
    });
    assert_eq!(denied_request["auth"]["policy_results"]["allowed"], false);
    assert_eq!(denied_request["error"], "permission denied");
    let denied_response = find(&entries, "response", "sys/mounts", |line| {
        line["request"]["id"] == denied_request["request"]["id"]
    });
    assert_eq!(denied_response["error"], "permission denied");

    // Revoke: the lease id in the clear on the response.
    let revoke_response = find(&entries, "response", "sys/leases/revoke", |_| true);
    assert_eq!(revoke_response["response"]["revoked"]["lease_id"], lease_id);
    assert_eq!(
        revoke_response["auth"]["policy_results"]["granting_policies"],
        json!(["root"])
    );

    // No secret this test handled appears anywhere in the file.
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        root_token.as_str(),
        alice_token.as_str(),
        alice_accessor.as_str(),
        alice_password.as_str(),
        target.root_password.as_str(),
        db_user.as_str(),
        db_password.as_str(),
        shares[0].as_str(),
    ] {
        assert!(!text.contains(secret), "a secret is in the audit log");
    }

    // The chain verifies; a changed byte and a removed line are named by line number.
    let (code, output) = verify(&log).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains(&format!("{} lines", entries.len())),
        "{output}"
    );
    let raw: Vec<String> = text.lines().map(|line| format!("{line}\n")).collect();
    let tampered = broker.dir().join("tampered.log");
    let mut changed = raw.clone();
    changed[2] = changed[2].replacen("\"type\":\"", "\"type\":\"x", 1);
    std::fs::write(&tampered, changed.concat()).unwrap();
    let (code, output) = verify(&tampered).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("line 3:"), "{output}");
    let mut removed = raw.clone();
    removed.remove(4);
    std::fs::write(&tampered, removed.concat()).unwrap();
    let (code, output) = verify(&tampered).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("line 5:"), "{output}");

    // Disabling removes the device; later requests are no longer written.
    assert_eq!(root.delete("sys/audit/file").await.status, 204);
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(root.get("sys/mounts").await.status, 200);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        before
    );
    assert!(
        root.get("sys/audit").await.body["data"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

fn hang_up(broker: &BrokerProcess) {
    let pid = broker.pid().expect("the broker runs");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `lessor_audit_failures_total` from an unauthenticated scrape (not itself audited).
async fn audit_failures(broker: &BrokerProcess) -> f64 {
    crate::metrics::scrape(broker, None)
        .await
        .unwrap()
        .value("lessor_audit_failures_total", &[])
        .unwrap_or(0.0)
}

async fn health(broker: &BrokerProcess) -> (u16, Value) {
    let response = reqwest::get(broker.url("sys/health")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls `check` until it holds (the broker handles SIGHUP on its own schedule), for 15 s.
async fn until<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_unwritable_device_fails_requests_closed_until_fixed() {
    let broker = BrokerProcess::start_with(
        Storage::Memory,
        "telemetry {\n    unauthenticated_metrics_access = true\n  }",
        "",
    )
    .await
    .unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(&root_token);
    let log: PathBuf = broker.dir().join("audit.log");
    enable_file_device(&root, &log).await;
    assert_eq!(root.get("auth/token/lookup-self").await.status, 200);
    let (status, body) = health(&broker).await;
    assert_eq!((status, &body["audit_failure"]), (200, &json!(false)));
    let failures_before = audit_failures(&broker).await;

    // Rotate the file away and put a directory in its place: the reopen on SIGHUP fails,
    // whoever the broker runs as.
    std::fs::rename(&log, broker.dir().join("audit.log.1")).unwrap();
    std::fs::create_dir(&log).unwrap();
    hang_up(&broker);
    until("requests to fail closed", || async {
        root.get("auth/token/lookup-self").await.status == 500
    })
    .await;
    let refused = root
        .put(
            "sys/policies/acl/new",
            json!({"policy": r#"path "x" { capabilities = ["read"] }"#}),
        )
        .await;
    assert_eq!(refused.status, 500, "{:?}", refused.body);
    assert_eq!(root.get("sys/policies/acl/new").await.status, 500);
    let (status, body) = health(&broker).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["audit_failure"], true);
    assert_eq!(body["sealed"], false);
    assert!(audit_failures(&broker).await > failures_before);

    // Fixed: health clears by itself and requests are served and recorded again.
    std::fs::remove_dir(&log).unwrap();
    let (status, body) = health(&broker).await;
    assert_eq!(
        (status, &body["audit_failure"]),
        (200, &json!(false)),
        "{body}"
    );
    assert_eq!(root.get("auth/token/lookup-self").await.status, 200);
    // The refused write never ran.
    assert_eq!(root.get("sys/policies/acl/new").await.status, 404);
    let (code, output) = verify(&log).await;
    assert_eq!(code, 0, "{output}");
    let (code, output) = verify(&broker.dir().join("audit.log.1")).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        lines(&log)
            .iter()
            .any(|line| line["request"]["path"] == "auth/token/lookup-self")
    );
}

#[tokio::test]
async fn a_rekey_is_audited_without_its_key_shares() {
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let anonymous = Api::new(&broker.address());
    let (old_shares, old_base64, root_token) = api::init(&anonymous, 3, 2).await;
    api::unseal(&anonymous, &old_shares[..2]).await;
    let root = anonymous.with_token(&root_token);
    let log = broker.dir().join("audit.log");
    enable_file_device(&root, &log).await;

    let started = anonymous
        .put(
            "sys/rekey/init",
            json!({"secret_shares": 2, "secret_threshold": 2}),
        )
        .await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    let nonce = started.body["nonce"].as_str().unwrap().to_string();
    let mut done = Value::Null;
    for share in &old_shares[..2] {
        let reply = anonymous
            .put("sys/rekey/update", json!({"key": share, "nonce": nonce}))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        done = reply.body;
    }
    assert_eq!(done["complete"], true, "{done:?}");

    let audit = lines(&log);
    let init = find(&audit, "response", "sys/rekey/init", |_| true);
    assert_eq!(init["response"]["data"]["started"], true);
    let update = find(&audit, "request", "sys/rekey/update", |_| true);
    assert!(
        update["request"]["data"]["key"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"),
        "{update:#}"
    );
    let complete = find(&audit, "response", "sys/rekey/update", |line| {
        line["response"]["data"]["complete"] == true
    });
    assert!(
        complete["response"]["data"]["keys"][0]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"),
        "{complete:#}"
    );

    // Neither the shares sent nor the new ones returned are in the file.
    let text = std::fs::read_to_string(&log).unwrap();
    let new_keys = done["keys"].as_array().unwrap().iter();
    let new_base64 = done["keys_base64"].as_array().unwrap().iter();
    for secret in old_shares
        .iter()
        .chain(old_base64.iter())
        .map(String::as_str)
        .chain(new_keys.chain(new_base64).map(|key| key.as_str().unwrap()))
    {
        assert!(!text.contains(secret), "a key share is in the audit file");
    }
    let (code, output) = verify(&log).await;
    assert_eq!(code, 0, "{output}");
}
