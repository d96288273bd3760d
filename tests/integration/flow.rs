//! The operator and application flow on each storage backend: init 5/3, unseal with three
//! shares, mount KV, write a policy, create a token, use KV v2 with it, seal, see 503,
//! unseal again, find the data intact; then check the broker's log holds no secret.

use lessor_test_support::broker::{BrokerProcess, Storage};
use lessor_test_support::postgres::TestPostgres;
use serde_json::json;

use crate::api::{self, Api};

const SECRET_VALUE: &str = "correct-horse-battery-staple-7f3a";

const APP_POLICY: &str = r#"
path "secret/data/app/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/app/*" {
  capabilities = ["read", "list"]
}
"#;

async fn full_flow(broker: &BrokerProcess) {
    let anonymous = Api::new(&broker.address());

    let reply = anonymous.get("sys/init").await;
    assert_eq!(reply.body, json!({"initialized": false}));
    assert_eq!(anonymous.get("sys/health").await.status, 501);

    let (shares, shares_base64, root_token) = api::init(&anonymous, 5, 3).await;
    assert_eq!(shares.len(), 5);
    assert!(
        root_token.starts_with("hvs."),
        "root token {root_token:?} lacks the hvs. prefix"
    );
    let status = anonymous.get("sys/seal-status").await;
    assert_eq!(status.body["sealed"], true);
    assert_eq!(status.body["t"], 3);
    assert_eq!(status.body["n"], 5);
    assert_eq!(anonymous.get("sys/health").await.status, 503);

    let root = anonymous.with_token(&root_token);
    let sealed = root.get("sys/mounts").await;
    assert_eq!(sealed.status, 503);
    assert_eq!(sealed.body, json!({"errors": ["Vault is sealed"]}));

    // Mixed encodings: Vault accepts hex and base64 shares.
    api::unseal(
        &anonymous,
        &[
            shares[0].clone(),
            shares_base64[2].clone(),
            shares[4].clone(),
        ],
    )
    .await;
    assert_eq!(anonymous.get("sys/health").await.status, 200);

    let reply = root
        .put(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let reply = root
        .put("sys/policies/acl/app", json!({"policy": APP_POLICY}))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let reply = root.get("sys/policies/acl/app").await;
    assert_eq!(reply.body["data"]["policy"], APP_POLICY);

    let reply = root
        .put(
            "auth/token/create",
            json!({"policies": ["app"], "ttl": "1h", "display_name": "app"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let app_token = reply.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(app_token.starts_with("hvs."));
    assert_eq!(reply.body["auth"]["policies"], json!(["app", "default"]));
    let app = anonymous.with_token(&app_token);

    let reply = app.get("auth/token/lookup-self").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["data"]["policies"], json!(["app", "default"]));

    for version in 1..=2 {
        let reply = app
            .put(
                "secret/data/app/db",
                json!({"data": {"password": format!("{SECRET_VALUE}-{version}"), "user": "app"}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["data"]["version"], version);
    }
    let reply = app.get("secret/data/app/db").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["data"]["data"]["password"],
        format!("{SECRET_VALUE}-2")
    );
    assert_eq!(reply.body["data"]["metadata"]["version"], 2);
    for field in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(
            reply.body.get(field).is_some(),
            "envelope lacks {field}: {:?}",
            reply.body
        );
    }
    let reply = app.get("secret/data/app/db?version=1").await;
    assert_eq!(
        reply.body["data"]["data"]["password"],
        format!("{SECRET_VALUE}-1")
    );
    let reply = app.get("secret/metadata/app/db").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["data"]["current_version"], 2);
    assert!(reply.body["data"]["versions"]["1"].is_object());

    // The policy grants nothing outside secret/data/app/.
    let denied = app
        .put("secret/data/other", json!({"data": {"x": "y"}}))
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(app.get("sys/mounts").await.status, 403);

    assert_eq!(root.put("sys/seal", json!({})).await.status, 204);
    let reply = app.get("secret/data/app/db").await;
    assert_eq!(reply.status, 503);
    assert_eq!(anonymous.get("sys/seal-status").await.body["sealed"], true);

    api::unseal(
        &anonymous,
        &[shares[1].clone(), shares[3].clone(), shares[0].clone()],
    )
    .await;
    let reply = app.get("secret/data/app/db").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["data"]["data"]["password"],
        format!("{SECRET_VALUE}-2")
    );

    // Nothing secret reached the log.
    let logs = broker.logs();
    assert!(logs.contains("unsealed"), "expected log lines, got: {logs}");
    let mut secrets: Vec<String> = shares.into_iter().chain(shares_base64).collect();
    secrets.extend([root_token, app_token, SECRET_VALUE.to_string()]);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the broker log contains a secret"
        );
    }
}

#[tokio::test]
async fn full_flow_on_sqlite() {
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    full_flow(&broker).await;
    // Restarting the process keeps the data; it comes back sealed.
    let broker = broker.restart().await.unwrap();
    let status = Api::new(&broker.address()).get("sys/seal-status").await;
    assert_eq!(status.body["initialized"], true);
    assert_eq!(status.body["sealed"], true);
}

#[tokio::test]
async fn full_flow_on_postgres() {
    let postgres = TestPostgres::shared().await.unwrap();
    let url = postgres.fresh_database().await.unwrap();
    let broker = BrokerProcess::start(
        Storage::Postgres {
            connection_url: url.clone(),
        },
        "",
    )
    .await
    .unwrap();
    full_flow(&broker).await;

    // The storage table holds ciphertext only: no secret value, no policy text in clear.
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT key, value FROM lessor_entries")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert!(
        rows.len() > 5,
        "expected stored entries, found {}",
        rows.len()
    );
    for (key, value) in rows {
        let text = String::from_utf8_lossy(&value);
        assert!(
            !text.contains(SECRET_VALUE),
            "plaintext secret stored under {key}"
        );
        assert!(
            !text.contains("capabilities"),
            "plaintext policy stored under {key}"
        );
    }
}
