//! `config/:name`: write, read (never the password), verification, validation, list, delete.

use lessor_sdk::{EngineError, Operation, SecretEngine};
use serde_json::{Value, json};

use super::{Harness, ROOT_PASSWORD};

#[tokio::test]
async fn read_shows_connection_details_but_never_the_password() {
    let h = Harness::new().await;
    h.configure(json!({"max_open_connections": "6", "allowed_roles": "reader, writer"}))
        .await;
    let data = h.ok(Operation::Read, "config/main", Value::Null).await;
    assert!(!data.to_string().contains(ROOT_PASSWORD), "{data}");
    assert_eq!(data["plugin_name"], "postgresql-database-plugin");
    assert_eq!(data["allowed_roles"], json!(["reader", "writer"]));
    let details = &data["connection_details"];
    assert_eq!(details["username"], "postgres");
    assert_eq!(details["connection_url"], h.templated_url());
    assert_eq!(details["max_open_connections"], 6);
    assert!(details.get("password").is_none());
    // The password is stored (for the engine), just never shown.
    assert_eq!(h.stored_config("main").await["password"], ROOT_PASSWORD);

    let list = h.ok(Operation::List, "config", Value::Null).await;
    assert_eq!(list["keys"], json!(["main"]));
}

#[tokio::test]
async fn a_literal_password_in_the_url_is_redacted_on_read() {
    let h = Harness::new().await;
    let url = h.db_url.replace(
        "postgres://postgres@",
        "postgres://postgres:Literal-Pw-123@",
    );
    h.ok(
        Operation::Update,
        "config/lit",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": url}),
    )
    .await;
    let data = h.ok(Operation::Read, "config/lit", Value::Null).await;
    assert!(!data.to_string().contains("Literal-Pw-123"), "{data}");
    assert!(
        data["connection_details"]["connection_url"]
            .as_str()
            .unwrap()
            .contains("postgres:xxxxx@")
    );
}

#[tokio::test]
async fn failed_verification_is_a_400_naming_the_host_without_the_password() {
    let h = Harness::new().await;
    let body = json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/nowhere",
        "username": "postgres",
        "password": ROOT_PASSWORD,
    });
    let message = h
        .invalid(Operation::Update, "config/down", body.clone())
        .await;
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("\"down\""), "{message}");
    assert!(!message.contains(ROOT_PASSWORD), "{message}");
    h.call(Operation::Read, "config/down", Value::Null)
        .await
        .map(|_| panic!("a config that failed verification was stored"))
        .unwrap_err();

    // verify_connection=false stores it; using it is then an upstream error, still secret-free.
    let mut unverified = body;
    unverified["verify_connection"] = json!("false");
    unverified["allowed_roles"] = json!("*");
    h.ok(Operation::Update, "config/down", unverified).await;
    h.ok(
        Operation::Update,
        "roles/r",
        json!({"db_name": "down", "creation_statements": "CREATE ROLE {{name}}"}),
    )
    .await;
    match h.call(Operation::Read, "creds/r", Value::Null).await {
        Err(EngineError::Upstream(message)) => {
            assert!(message.contains("127.0.0.1:1"), "{message}");
            assert!(!message.contains(ROOT_PASSWORD), "{message}");
        }
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_config_writes_are_rejected() {
    let h = Harness::new().await;
    let url = h.templated_url();
    let base = json!({"plugin_name": "postgresql-database-plugin", "connection_url": url,
                      "username": "postgres", "password": "pw"});
    let cases = [
        (
            "plugin_name",
            json!("mysql-database-plugin"),
            "only postgresql",
        ),
        ("no_such_field", json!(1), "unknown field"),
        ("password_policy", json!("strict"), "not supported"),
        ("tls_ca", json!("-----BEGIN"), "not supported"),
        (
            "password_authentication",
            json!("md5"),
            "password_authentication",
        ),
        ("username_template", json!("{{.Secret}}"), "unsupported"),
        (
            "root_rotation_statements",
            json!(["ALTER ROLE {{bogus}}"]),
            "bogus",
        ),
        ("max_open_connections", json!(-3), "max_open_connections"),
        ("connection_url", json!(""), "connection_url"),
    ];
    for (field, value, expected) in cases {
        let mut body = base.clone();
        body[field] = value;
        let message = h.invalid(Operation::Update, "config/bad", body).await;
        assert!(message.contains(expected), "{field}: {message}");
    }
    let message = h
        .invalid(Operation::Update, "config/a%20b", base.clone())
        .await;
    assert!(message.contains("invalid connection name"), "{message}");
}

#[tokio::test]
async fn update_merges_and_delete_removes() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    assert!(
        h.engine
            .exists(
                &h.ctx,
                &h.request(Operation::Update, "config/main", Value::Null)
            )
            .await
            .unwrap()
    );
    // An update that names only one field keeps the others (including the password).
    h.ok(
        Operation::Update,
        "config/main",
        json!({"allowed_roles": ["only"]}),
    )
    .await;
    let data = h.ok(Operation::Read, "config/main", Value::Null).await;
    assert_eq!(data["allowed_roles"], json!(["only"]));
    assert_eq!(data["connection_details"]["username"], "postgres");
    assert_eq!(h.stored_config("main").await["password"], ROOT_PASSWORD);

    h.ok(Operation::Delete, "config/main", Value::Null).await;
    assert!(matches!(
        h.call(Operation::Read, "config/main", Value::Null).await,
        Err(EngineError::NotFound)
    ));
    assert!(
        !h.engine
            .exists(
                &h.ctx,
                &h.request(Operation::Update, "config/main", Value::Null)
            )
            .await
            .unwrap()
    );
}
