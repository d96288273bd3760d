//! Many credentials at once for one role whose creation statement GRANTs on one table:
//! PostgreSQL fails concurrent GRANTs on one object ("tuple concurrently updated"); the engine
//! retries those transactions, and every request must succeed.

use std::sync::Arc;
use std::time::Instant;

use lessor_sdk::Operation;
use serde_json::{Value, json};

use super::Harness;

const REQUESTS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_creds_with_a_grant_all_succeed() {
    let h = Arc::new(Harness::new().await);
    h.admin()
        .await
        .batch_execute("CREATE TABLE shared_table (id int)")
        .await
        .unwrap();
    h.configure(json!({"max_open_connections": 16})).await;
    h.role(
        "reader",
        json!({"creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
            "GRANT SELECT ON shared_table TO \"{{name}}\""
        ]}),
    )
    .await;

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..REQUESTS {
        let h = h.clone();
        tasks.spawn(async move { h.call(Operation::Read, "creds/reader", Value::Null).await });
    }
    let mut usernames = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let response = joined
            .unwrap()
            .unwrap_or_else(|error| panic!("a creds call failed: {error}"));
        usernames.push(
            response.data.unwrap()["username"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    eprintln!(
        "{REQUESTS} concurrent creds with a GRANT took {:?}",
        started.elapsed()
    );

    usernames.sort();
    usernames.dedup();
    assert_eq!(usernames.len(), REQUESTS);
    let admin = h.admin().await;
    for username in &usernames {
        let allowed: bool = admin
            .query_one(
                "SELECT has_table_privilege($1, 'shared_table', 'SELECT')",
                &[username],
            )
            .await
            .unwrap()
            .get(0);
        assert!(allowed, "{username} lacks the grant");
    }

    // And revoke them all concurrently too (DROP OWNED races on the same grants).
    let mut tasks = tokio::task::JoinSet::new();
    for (lease_id, kind, payload) in h.intents.recording.begun() {
        let h = h.clone();
        tasks.spawn(async move {
            let now = lessor_sdk::Clock::now(h.clock.as_ref());
            let secret = lessor_sdk::LeasedSecret {
                lease_id,
                kind,
                payload,
                issue_time: now,
                expire_time: now,
            };
            lessor_sdk::SecretEngine::revoke(&h.engine, &h.ctx, &secret).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .unwrap()
            .unwrap_or_else(|error| panic!("a revoke failed: {error}"));
    }
    for username in &usernames {
        assert!(!h.role_exists(username).await);
    }
}
