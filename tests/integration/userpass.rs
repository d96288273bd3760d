//! Operators log in with a username and password (argon2id at rest) through the API and the
//! CLI; a changed password stops the old one; the broker never logs a password.

use lessor_test_support::broker::{BrokerProcess, lessor_binary};
use serde_json::json;

use crate::api::Api;

#[tokio::test]
async fn userpass_login_policies_and_password_change() {
    let broker = BrokerProcess::start_dev(&["-dev-storage", "memory"])
        .await
        .unwrap();
    let root = Api::new(&broker.address()).with_token(broker.root_token.as_deref().unwrap());
    let anonymous = Api::new(&broker.address());

    assert_eq!(
        root.put("sys/auth/userpass", json!({"type": "userpass"}))
            .await
            .status,
        204
    );
    assert_eq!(
        root.get("sys/auth").await.body["data"]["userpass/"]["type"],
        "userpass"
    );
    let policy = r#"path "secret/data/ops/*" { capabilities = ["create", "read", "update"] }"#;
    root.put("sys/policies/acl/ops", json!({"policy": policy}))
        .await;
    let reply = root
        .put(
            "auth/userpass/users/Alice",
            json!({"password": "first-password-1", "token_policies": ["ops"], "token_ttl": "1h"}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let user = root.get("auth/userpass/users/alice").await;
    assert_eq!(user.status, 200);
    assert!(!user.body.to_string().contains("first-password-1"));

    let login = anonymous
        .put(
            "auth/userpass/login/alice",
            json!({"password": "first-password-1"}),
        )
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["auth"]["policies"], json!(["default", "ops"]));
    assert_eq!(login.body["auth"]["metadata"]["username"], "alice");
    assert_eq!(login.body["auth"]["lease_duration"], 3600);
    let alice = anonymous.with_token(login.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(
        alice
            .put("secret/data/ops/x", json!({"data": {"k": "v"}}))
            .await
            .status,
        200
    );
    assert_eq!(
        alice
            .put("secret/data/other", json!({"data": {"k": "v"}}))
            .await
            .status,
        403
    );
    assert_eq!(
        alice.put("auth/token/renew-self", json!({})).await.status,
        200,
        "login tokens renew through the method"
    );

    let wrong = anonymous
        .put(
            "auth/userpass/login/alice",
            json!({"password": "nope-nope-nope"}),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let unknown = anonymous
        .put(
            "auth/userpass/login/mallory",
            json!({"password": "whatever-123"}),
        )
        .await;
    assert_eq!(unknown.status, 403);
    assert_eq!(
        wrong.body, unknown.body,
        "unknown users and wrong passwords look the same"
    );

    // A changed password: the old one stops working, the new one works.
    let changed = root
        .put(
            "auth/userpass/users/alice/password",
            json!({"password": "second-password-2"}),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    assert_eq!(
        anonymous
            .put(
                "auth/userpass/login/alice",
                json!({"password": "first-password-1"})
            )
            .await
            .status,
        403
    );
    assert_eq!(
        anonymous
            .put(
                "auth/userpass/login/alice",
                json!({"password": "second-password-2"})
            )
            .await
            .status,
        200
    );

    // The CLI logs in with the method too (password given as a field; normally prompted).
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(lessor_binary().await.unwrap())
        .args([
            "login",
            "-method=userpass",
            "username=alice",
            "password=second-password-2",
        ])
        .env("LESSOR_ADDR", broker.address())
        .env("HOME", home.path())
        .env_remove("LESSOR_TOKEN")
        .env_remove("VAULT_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(home.path().join(".lessor-token").exists());

    // Deleting the user stops renewals of the tokens it obtained.
    assert_eq!(root.delete("auth/userpass/users/alice").await.status, 204);
    assert_ne!(
        alice.put("auth/token/renew-self", json!({})).await.status,
        200
    );

    let logs = broker.logs();
    for secret in [
        "first-password-1",
        "second-password-2",
        "nope-nope-nope",
        "whatever-123",
    ] {
        assert!(!logs.contains(secret), "a password reached the log");
    }
}
