//! The `lessor` command line against a real broker: the README walkthrough (init, unseal,
//! policy, token, KV) plus exit codes and error lines.

use std::path::Path;
use std::process::Output;

use lessor_test_support::broker::{BrokerProcess, Storage, lessor_binary};
use serde_json::Value;

pub(crate) struct Cli<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) address: String,
    pub(crate) home: tempfile::TempDir,
}

impl Cli<'_> {
    pub(crate) fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(self.binary);
        command
            .args(args)
            .env("LESSOR_ADDR", &self.address)
            .env("HOME", self.home.path())
            .env_remove("LESSOR_TOKEN")
            .env_remove("VAULT_TOKEN")
            .env_remove("VAULT_ADDR")
            .stdin(std::process::Stdio::null());
        if let Some(token) = token {
            command.env("LESSOR_TOKEN", token);
        }
        command.output().unwrap()
    }

    pub(crate) fn ok(&self, token: Option<&str>, args: &[&str]) -> String {
        let output = self.run(token, args);
        assert!(
            output.status.success(),
            "lessor {args:?} failed ({:?}): {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub(crate) fn json(&self, token: Option<&str>, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(token, args)).unwrap()
    }
}

#[tokio::test]
async fn readme_walkthrough_with_the_cli() {
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let cli = Cli {
        binary: lessor_binary().await.unwrap(),
        address: broker.address(),
        home: tempfile::tempdir().unwrap(),
    };

    // `status` exits 2 while sealed (and uninitialised).
    assert_eq!(cli.run(None, &["status"]).status.code(), Some(2));

    let init = cli.json(
        None,
        &[
            "operator",
            "init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ],
    );
    let keys: Vec<String> = init["unseal_keys_b64"]
        .as_array()
        .or_else(|| init["keys_base64"].as_array())
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let root = init["root_token"].as_str().unwrap().to_string();
    assert_eq!(keys.len(), 3);

    cli.ok(None, &["operator", "unseal", &keys[0]]);
    assert_eq!(
        cli.run(None, &["status"]).status.code(),
        Some(2),
        "one share of two must not unseal"
    );
    cli.ok(None, &["operator", "unseal", &keys[2]]);
    assert_eq!(cli.run(None, &["status"]).status.code(), Some(0));

    // Log in with the root token: stored in a 0600 file, used by later commands.
    cli.ok(None, &["login", &root]);
    let token_file = cli.home.path().join(".lessor-token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    cli.ok(
        None,
        &["secrets", "enable", "-path=secret", "-version=2", "kv"],
    );
    let listed = cli.ok(None, &["secrets", "list"]);
    assert!(listed.contains("secret/"), "{listed}");

    let policy = cli.home.path().join("app.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app/*\" {\n  capabilities = [\"create\", \"read\", \"update\"]\n}\n",
    )
    .unwrap();
    cli.ok(None, &["policy", "write", "app", policy.to_str().unwrap()]);
    assert!(cli.ok(None, &["policy", "list"]).contains("app"));

    let created = cli.json(
        None,
        &["token", "create", "-policy=app", "-ttl=1h", "-format=json"],
    );
    let app_token = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();

    cli.ok(
        Some(&app_token),
        &["kv", "put", "secret/app/db", "password=s3cr3t", "user=app"],
    );
    let password = cli.ok(
        Some(&app_token),
        &["kv", "get", "-field=password", "secret/app/db"],
    );
    assert_eq!(password.trim(), "s3cr3t");
    let read = cli.json(
        Some(&app_token),
        &["read", "-format=json", "secret/data/app/db"],
    );
    assert_eq!(read["data"]["data"]["user"], "app");

    // Denied: one line on stderr, exit code 1, no token in it.
    let denied = cli.run(Some(&app_token), &["kv", "put", "secret/other", "x=y"]);
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("403") || stderr.contains("permission denied"),
        "{stderr}"
    );
    assert!(!stderr.contains(&app_token));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // Usage errors exit 2.
    assert_eq!(
        cli.run(None, &["operator", "init", "-key-shares=banana"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(cli.run(None, &["no-such-command"]).status.code(), Some(2));

    cli.ok(None, &["operator", "seal"]);
    assert_eq!(
        cli.run(Some(&app_token), &["kv", "get", "secret/app/db"])
            .status
            .code(),
        Some(1)
    );
    let logs = broker.logs();
    for secret in keys.iter().chain([&root, &app_token]) {
        assert!(!logs.contains(secret.as_str()));
    }
    assert!(!logs.contains("s3cr3t"));
}
