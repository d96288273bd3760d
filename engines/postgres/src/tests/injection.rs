//! Hostile names and templates: refused or quoted, never executed.

use lessor_sdk::{ClientInfo, Operation, SecretEngine};
use serde_json::{Value, json};

use super::Harness;

const HOSTILE: &str = "\"; DROP ROLE postgres; --";

async fn postgres_still_exists(h: &Harness) -> bool {
    h.role_exists("postgres").await
}

#[tokio::test]
async fn hostile_role_and_config_names_are_refused() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    let path_safe = HOSTILE.replace('/', "");
    for path in [format!("roles/{path_safe}"), format!("config/{path_safe}")] {
        let message = h.invalid(Operation::Update, &path, json!({})).await;
        assert!(message.contains("invalid"), "{message}");
    }
    assert!(postgres_still_exists(&h).await);
}

#[tokio::test]
async fn hostile_display_names_and_templates_are_sanitized() {
    let h = Harness::new().await;
    h.configure(json!({
        "username_template": "'\"; DROP ROLE postgres; --{{.DisplayName}}-{{random 8}}"
    }))
    .await;
    // Bare placeholders exercise the identifier and literal quoting paths.
    h.role(
        "r",
        json!({"creation_statements": "CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}"}),
    )
    .await;
    let mut request = h.request(Operation::Read, "creds/r", Value::Null);
    request.client = Some(ClientInfo {
        display_name: HOSTILE.into(),
        ..ClientInfo::default()
    });
    let response = h.engine.handle(&h.ctx, request).await.unwrap();
    let data = response.data.unwrap();
    let username = data["username"].as_str().unwrap();
    assert!(
        username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        "{username}"
    );
    assert!(h.role_exists(username).await);
    assert!(postgres_still_exists(&h).await);
    h.connect_as(username, data["password"].as_str().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn statements_cannot_be_broken_out_of_by_values() {
    // The username is sanitized before it reaches SQL, so drive the renderer directly with
    // a hostile value against the real server: it must be one (odd) identifier.
    let h = Harness::new().await;
    let admin = h.admin().await;
    let hostile = format!("evil{HOSTILE}");
    let pairs = [("name", hostile.as_str())];
    let statements = crate::statements::render(
        "CREATE ROLE \"{{name}}\"; COMMENT ON ROLE {{name}} IS 'x'",
        crate::statements::Values::new(&pairs),
    )
    .unwrap();
    for statement in &statements {
        admin.batch_execute(statement).await.unwrap();
    }
    assert!(h.role_exists(&hostile).await);
    assert!(postgres_still_exists(&h).await);
    admin
        .batch_execute(&format!(
            "DROP ROLE {}",
            crate::statements::quote_identifier(&hostile)
        ))
        .await
        .unwrap();
}
