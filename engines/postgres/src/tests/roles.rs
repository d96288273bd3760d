//! `roles/:name`: CRUD and validation against the connection config.

use lessor_sdk::{EngineError, Operation};
use serde_json::{Value, json};

use super::Harness;

#[tokio::test]
async fn role_crud() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role(
        "reader",
        json!({
            "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN; GRANT SELECT ON t TO \"{{name}}\"",
            "revocation_statements": ["DROP ROLE IF EXISTS \"{{name}}\""],
            "default_ttl": 600,
            "max_ttl": "2h",
        }),
    )
    .await;
    let data = h.ok(Operation::Read, "roles/reader", Value::Null).await;
    assert_eq!(data["db_name"], "main");
    assert_eq!(
        data["creation_statements"],
        json!(["CREATE ROLE \"{{name}}\" LOGIN; GRANT SELECT ON t TO \"{{name}}\""])
    );
    assert_eq!(
        data["revocation_statements"],
        json!(["DROP ROLE IF EXISTS \"{{name}}\""])
    );
    assert_eq!(data["renew_statements"], json!([]));
    assert_eq!(data["rollback_statements"], json!([]));
    assert_eq!(data["default_ttl"], 600);
    assert_eq!(data["max_ttl"], 7200);
    assert_eq!(data["credential_type"], "password");

    h.role("writer", json!({})).await;
    let list = h.ok(Operation::List, "roles", Value::Null).await;
    assert_eq!(list["keys"], json!(["reader", "writer"]));

    // Update keeps unspecified fields.
    h.ok(
        Operation::Update,
        "roles/reader",
        json!({"default_ttl": "5m"}),
    )
    .await;
    let data = h.ok(Operation::Read, "roles/reader", Value::Null).await;
    assert_eq!(data["default_ttl"], 300);
    assert_eq!(data["max_ttl"], 7200);

    h.ok(Operation::Delete, "roles/reader", Value::Null).await;
    assert!(matches!(
        h.call(Operation::Read, "roles/reader", Value::Null).await,
        Err(EngineError::NotFound)
    ));
}

#[tokio::test]
async fn role_validation() {
    let h = Harness::new().await;
    h.configure(json!({"allowed_roles": ["app-*"]})).await;
    let good = json!({"db_name": "main", "creation_statements": "CREATE ROLE {{name}}"});
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    cases.push((
        "app-x",
        json!({"creation_statements": "CREATE ROLE {{name}}"}),
        "database name is required",
    ));
    cases.push(("other", good.clone(), "allowed_roles"));
    cases.push((
        "app-x",
        json!({"db_name": "missing", "creation_statements": "CREATE ROLE {{name}}"}),
        "does not exist",
    ));
    cases.push((
        "app-x",
        json!({"db_name": "main"}),
        "creation_statements are required",
    ));
    cases.push((
        "app-x",
        json!({"db_name": "main", "creation_statements": "CREATE ROLE '{{name}}"}),
        "unterminated",
    ));
    cases.push((
        "app-x",
        json!({"db_name": "main", "creation_statements": "CREATE ROLE {{name}}",
        "revocation_statements": "ALTER ROLE {{name}} PASSWORD '{{password}}'"}),
        "revocation_statements",
    ));
    cases.push((
        "app-x",
        json!({"db_name": "main", "creation_statements": "CREATE ROLE {{name}}",
        "default_ttl": "2h", "max_ttl": "1h"}),
        "default_ttl",
    ));
    cases.push((
        "app-x",
        json!({"db_name": "main", "creation_statements": "CREATE ROLE {{name}}",
        "credential_type": "rsa_private_key"}),
        "credential_type",
    ));
    cases.push((
        "app-x",
        json!({"db_name": "main", "creation_statements": "CREATE ROLE {{name}}",
        "username": "static"}),
        "unknown field",
    ));
    for (name, body, expected) in cases {
        let message = h
            .invalid(Operation::Update, &format!("roles/{name}"), body.clone())
            .await;
        assert!(message.contains(expected), "{body}: {message}");
    }
    h.ok(Operation::Update, "roles/app-x", good).await;
}
