//! Revocation: idempotent, terminates sessions, cleans up owned objects.

use lessor_sdk::{Clock, EngineError, LeasedSecret, Operation, SecretEngine};
use serde_json::{Value, json};

use super::Harness;

#[tokio::test]
async fn revoke_drops_the_user_and_ends_its_sessions() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.admin()
        .await
        .batch_execute("CREATE SCHEMA app")
        .await
        .unwrap();
    h.role(
        "owner",
        json!({"creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
            "GRANT USAGE, CREATE ON SCHEMA app TO \"{{name}}\""
        ]}),
    )
    .await;
    let (username, password, secret) = h.creds("owner").await;
    let session = h.connect_as(&username, &password).await.unwrap();
    // The user owns an object: revocation must reassign it, not fail on it.
    session
        .batch_execute("CREATE TABLE app.made_by_user (id int)")
        .await
        .unwrap();

    h.engine.revoke(&h.ctx, &secret).await.unwrap();

    assert!(!h.role_exists(&username).await);
    assert!(
        session.query_one("SELECT 1", &[]).await.is_err(),
        "session survived revoke"
    );
    let owner: String = h
        .admin()
        .await
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = 'app' AND tablename = 'made_by_user'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "postgres");
    assert!(h.connect_as(&username, &password).await.is_err());

    // Twice is fine.
    h.engine.revoke(&h.ctx, &secret).await.unwrap();
}

#[tokio::test]
async fn revoking_a_user_that_was_never_created_succeeds() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role("reader", json!({})).await;
    let now = h.clock.now();
    let secret = LeasedSecret {
        lease_id: "database/creds/reader/never".into(),
        kind: "creds".into(),
        payload: json!({"db_name": "main", "role": "reader", "username": "v-token-never-created-0001"}),
        issue_time: now,
        expire_time: now,
    };
    h.engine.revoke(&h.ctx, &secret).await.unwrap();
}

#[tokio::test]
async fn custom_revocation_statements_run_and_survive_role_deletion() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.admin()
        .await
        .batch_execute("CREATE TABLE revoked (name text)")
        .await
        .unwrap();
    h.role(
        "custom",
        json!({"revocation_statements": [
            "INSERT INTO revoked VALUES ('{{name}}')",
            "DROP ROLE \"{{name}}\""
        ]}),
    )
    .await;
    let (username, _, secret) = h.creds("custom").await;
    // The role goes away first: the statements captured at issue are used.
    h.ok(Operation::Delete, "roles/custom", Value::Null).await;
    h.engine.revoke(&h.ctx, &secret).await.unwrap();
    assert!(!h.role_exists(&username).await);
    let recorded: String = h
        .admin()
        .await
        .query_one("SELECT name FROM revoked", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, username);
    // Already gone: the statements fail on the missing role, their transaction leaves
    // nothing behind, and that is success.
    h.engine.revoke(&h.ctx, &secret).await.unwrap();
    let rows: i64 = h
        .admin()
        .await
        .query_one("SELECT count(*) FROM revoked", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "the second run was rolled back");
}

#[tokio::test]
async fn custom_revocation_that_fails_on_a_live_role_is_an_error() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role(
        "broken",
        json!({"revocation_statements": ["SELECT 1/0", "DROP ROLE \"{{name}}\""]}),
    )
    .await;
    let (username, _, secret) = h.creds("broken").await;
    let error = h.engine.revoke(&h.ctx, &secret).await.unwrap_err();
    assert!(error.to_string().contains("division by zero"), "{error}");
    assert!(
        h.role_exists(&username).await,
        "the role must survive a failed revocation"
    );
}

#[tokio::test]
async fn revoke_without_the_config_is_an_error() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role("reader", json!({})).await;
    let (username, _, secret) = h.creds("reader").await;
    h.ok(Operation::Delete, "config/main", Value::Null).await;
    assert!(matches!(
        h.engine.revoke(&h.ctx, &secret).await,
        Err(EngineError::Upstream(_))
    ));
    assert!(h.role_exists(&username).await);
    // Clean up the user this test made on the shared server.
    h.configure(json!({})).await;
    h.engine.revoke(&h.ctx, &secret).await.unwrap();
}
