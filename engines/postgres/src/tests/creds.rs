//! `creds/:role` and renewal: real users on a real server.

use std::time::Duration;

use lessor_sdk::{Clock, EngineError, Operation, SecretEngine};
use serde_json::{Value, json};

use super::{Harness, MOUNT};
use crate::password::scram_matches;

async fn valid_until_epoch(h: &Harness, username: &str) -> i64 {
    let row = h
        .admin()
        .await
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn creds_create_a_working_user_tagged_with_its_lease() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role("reader", json!({"default_ttl": "30m", "max_ttl": "2h"}))
        .await;

    let response = h
        .call(Operation::Read, "creds/reader", Value::Null)
        .await
        .unwrap();
    let data = response.data.clone().unwrap();
    let username = data["username"].as_str().unwrap().to_string();
    let password = data["password"].as_str().unwrap().to_string();
    assert!(username.starts_with("v-token-reader-"), "{username}");
    assert!(username.len() <= 63);
    assert!(password.len() >= 24);

    let spec = response.secret.unwrap();
    assert_eq!(spec.kind, "creds");
    assert!(spec.renewable);
    assert_eq!(spec.ttl, Duration::from_secs(1800));
    assert_eq!(spec.max_ttl, Some(Duration::from_secs(7200)));
    assert_eq!(spec.payload["username"], username.as_str());

    // The intent was begun before the user existed, and names the user to revoke.
    let begun = h.intents.recording.begun();
    assert_eq!(begun.len(), 1);
    let (lease_id, kind, payload) = &begun[0];
    assert_eq!(Some(lease_id), spec.intent.as_ref());
    assert_eq!(kind, "creds");
    assert_eq!(payload["username"], username.as_str());
    assert_eq!(payload["db_name"], "main");
    assert_eq!(payload["role"], "reader");
    assert_eq!(*h.intents.absent_at_begin.lock().unwrap(), [true]);

    // The user logs in and works.
    let client = h.connect_as(&username, &password).await.unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, username);

    let admin = h.admin().await;
    // The server holds exactly this password (the test server trusts local logins, so check
    // the stored verifier rather than relying on authentication).
    let row = admin
        .query_one(
            "SELECT rolpassword, shobj_description(oid, 'pg_authid') FROM pg_authid WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap();
    let verifier: String = row.get(0);
    assert!(
        scram_matches(&verifier, &password),
        "stored verifier does not match"
    );
    assert!(!scram_matches(&verifier, "something-else"));
    let comment: String = row.get(1);
    assert_eq!(comment, format!("lessor lease {lease_id} mount {MOUNT}"));

    let expected = (h.clock.now() + Duration::from_secs(1800)).unix_timestamp();
    assert_eq!(valid_until_epoch(&h, &username).await, expected);
}

#[tokio::test]
async fn scram_authentication_sends_a_verifier_that_matches() {
    let h = Harness::new().await;
    h.configure(json!({"password_authentication": "scram-sha-256"}))
        .await;
    h.role("app", json!({})).await;
    let (username, password, _) = h.creds("app").await;
    let verifier: String = h
        .admin()
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0);
    assert!(scram_matches(&verifier, &password));
    h.connect_as(&username, &password).await.unwrap();
}

#[tokio::test]
async fn ttls_are_capped_by_role_and_mount() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    // No role default: the mount default (1h) applies, capped by the role max (20m).
    h.role("capped", json!({"default_ttl": 0, "max_ttl": "20m"}))
        .await;
    let response = h
        .call(Operation::Read, "creds/capped", Value::Null)
        .await
        .unwrap();
    assert_eq!(response.secret.unwrap().ttl, Duration::from_secs(1200));
    // A role default above the mount max (24h) is capped by it.
    h.role("long", json!({"default_ttl": "48h", "max_ttl": "72h"}))
        .await;
    let response = h
        .call(Operation::Read, "creds/long", Value::Null)
        .await
        .unwrap();
    assert_eq!(response.secret.unwrap().ttl, Duration::from_secs(86400));
}

#[tokio::test]
async fn renew_moves_valid_until_and_respects_max_ttl() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role("reader", json!({"default_ttl": "1h", "max_ttl": "2h"}))
        .await;
    let (username, _, secret) = h.creds("reader").await;
    let issued = h.clock.now();

    h.clock.advance(Duration::from_secs(1800));
    let outcome = h
        .engine
        .renew(&h.ctx, &secret, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(outcome.ttl, Duration::from_secs(3600));
    assert!(outcome.warnings.is_empty());
    assert_eq!(
        valid_until_epoch(&h, &username).await,
        (h.clock.now() + Duration::from_secs(3600)).unix_timestamp()
    );

    // 1.5h after issue, asking for 1h more would pass the 2h max: capped at 30m, with a warning.
    h.clock.advance(Duration::from_secs(3600));
    let outcome = h
        .engine
        .renew(&h.ctx, &secret, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(outcome.ttl, Duration::from_secs(1800));
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert_eq!(
        valid_until_epoch(&h, &username).await,
        (issued + Duration::from_secs(7200)).unix_timestamp()
    );

    // A renewal of a lease whose role was deleted is refused.
    h.ok(Operation::Delete, "roles/reader", Value::Null).await;
    assert!(matches!(
        h.engine.renew(&h.ctx, &secret, None).await,
        Err(EngineError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn custom_renew_statements_are_used() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role(
        "r",
        json!({"renew_statements": "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'; COMMENT ON ROLE {{name}} IS 'renewed'"}),
    )
    .await;
    let (username, _, secret) = h.creds("r").await;
    h.engine.renew(&h.ctx, &secret, None).await.unwrap();
    let comment: String = h
        .admin()
        .await
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(comment, "renewed");
}

#[tokio::test]
async fn creds_for_unknown_or_disallowed_roles_are_refused() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    let message = h.invalid(Operation::Read, "creds/ghost", Value::Null).await;
    assert!(message.contains("unknown role"), "{message}");
    h.role("reader", json!({})).await;
    // Narrowing allowed_roles after the role was written takes effect at issue time.
    h.ok(
        Operation::Update,
        "config/main",
        json!({"allowed_roles": "other"}),
    )
    .await;
    let message = h
        .invalid(Operation::Read, "creds/reader", Value::Null)
        .await;
    assert!(message.contains("not allowed"), "{message}");
    assert!(h.intents.recording.begun().is_empty());
}

#[tokio::test]
async fn a_failing_creation_statement_leaves_nothing_and_hides_the_password() {
    let h = Harness::new().await;
    // One connection: the failed transaction's session must come back usable.
    h.configure(json!({"max_open_connections": 1})).await;
    // The second statement fails after the role was created in the same transaction.
    h.role(
        "broken",
        json!({"creation_statements": [
            "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'",
            "GRANT SELECT ON no_such_table TO \"{{name}}\""
        ]}),
    )
    .await;
    let error = h
        .call(Operation::Read, "creds/broken", Value::Null)
        .await
        .unwrap_err();
    let EngineError::Upstream(message) = error else {
        panic!("expected upstream, got {error:?}")
    };
    assert!(message.contains("no_such_table"), "{message}");
    let begun = h.intents.recording.begun();
    assert_eq!(begun.len(), 1, "the intent precedes the attempt");
    let username = begun[0].2["username"].as_str().unwrap().to_string();
    assert!(
        !h.role_exists(&username).await,
        "the transaction was not rolled back"
    );

    h.role(
        "working",
        json!({"creation_statements": ["CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'"]}),
    )
    .await;
    let issued = h
        .call(Operation::Read, "creds/working", Value::Null)
        .await
        .unwrap();
    let username = issued.data.unwrap()["username"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        h.role_exists(&username).await,
        "the pooled session was left aborted"
    );
}

#[tokio::test]
async fn database_errors_quoting_the_password_are_scrubbed() {
    let h = Harness::new().await;
    h.configure(json!({})).await;
    // PostgreSQL echoes the bad value: `invalid input syntax for type integer: "<password>"`.
    h.role(
        "leaky",
        json!({"creation_statements": "CREATE ROLE {{name}}; SELECT {{password}}::int"}),
    )
    .await;
    let error = h
        .call(Operation::Read, "creds/leaky", Value::Null)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("invalid input syntax"), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
}

#[tokio::test]
async fn statements_that_create_no_role_still_issue() {
    // Vault accepts creation statements that never name the user (e.g. a pre-provisioned
    // login); there is then no role to tag with the lease, and issuing must still work.
    let h = Harness::new().await;
    h.configure(json!({})).await;
    h.role(
        "noop",
        json!({"creation_statements": ["SELECT 1"], "revocation_statements": ["SELECT 1"]}),
    )
    .await;
    let (username, _, secret) = h.creds("noop").await;
    let exists = h
        .admin()
        .await
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
        .await
        .unwrap();
    assert!(exists.is_none(), "no role was meant to be created");
    h.engine.revoke(&h.ctx, &secret).await.unwrap();
}
