//! `rotate-root/:name`: the root password changes to one only the engine knows.

use lessor_sdk::{Operation, SecretEngine};
use serde_json::{Value, json};

use super::Harness;
use crate::password::scram_matches;

const INITIAL: &str = "Initial-root-pw-1";

async fn stored_verifier(h: &Harness, role: &str) -> String {
    h.admin()
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn rotate_root_changes_the_password_and_creds_keep_working() {
    let h = Harness::new().await;
    // A dedicated, non-superuser root: rotation must not touch the shared `postgres` user.
    let root = format!(
        "lessor_root_{}",
        h.db_name().trim_start_matches("lessor_test_")
    );
    h.admin()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {root} LOGIN CREATEROLE PASSWORD '{INITIAL}'; \
             GRANT ALL ON SCHEMA public TO {root}"
        ))
        .await
        .unwrap();
    h.configure(json!({"username": root, "password": INITIAL}))
        .await;
    h.role("reader", json!({})).await;
    // Issue before rotation: the pool is warm with connections made with the old password.
    let (before, _, before_secret) = h.creds("reader").await;

    let response = h
        .call(Operation::Update, "rotate-root/main", Value::Null)
        .await
        .unwrap();
    assert!(
        response.data.is_none(),
        "rotate-root must not return anything"
    );

    let stored = h.stored_config("main").await;
    let new_password = stored["password"].as_str().unwrap().to_string();
    assert_ne!(new_password, INITIAL);
    assert!(stored["pending_password"].is_null());
    let verifier = stored_verifier(&h, &root).await;
    assert!(
        scram_matches(&verifier, &new_password),
        "server holds another password"
    );
    assert!(
        !scram_matches(&verifier, INITIAL),
        "old password still valid"
    );
    let shown = h.ok(Operation::Read, "config/main", Value::Null).await;
    assert!(!shown.to_string().contains(&new_password));

    // Creds and revocation still work, through a pool rebuilt with the new password.
    let (after, password, after_secret) = h.creds("reader").await;
    h.connect_as(&after, &password).await.unwrap();
    // A non-superuser root on PostgreSQL < 16 cannot REASSIGN OWNED: the fallback revokes.
    h.engine.revoke(&h.ctx, &after_secret).await.unwrap();
    h.engine.revoke(&h.ctx, &before_secret).await.unwrap();
    assert!(!h.role_exists(&after).await && !h.role_exists(&before).await);

    h.admin()
        .await
        .batch_execute(&format!(
            "REVOKE ALL ON SCHEMA public FROM {root}; DROP ROLE {root}"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn rotate_root_refuses_a_literal_password_url() {
    let h = Harness::new().await;
    let url = h
        .db_url
        .replace("postgres://postgres@", "postgres://postgres:pw@");
    h.ok(
        Operation::Update,
        "config/lit",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": url, "username": "postgres"}),
    )
    .await;
    let message = h
        .invalid(Operation::Update, "rotate-root/lit", Value::Null)
        .await;
    assert!(
        message.contains("connection_url contains a password"),
        "{message}"
    );
}
