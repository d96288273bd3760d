//! Leased API keys end to end: issue, verify, renew, revoke, expiry without any request,
//! policy on `apikey/verify`, and the raw key never in storage or logs.

use std::time::{Duration, Instant};

use lessor_test_support::broker::{BrokerProcess, Storage};
use serde_json::json;

use crate::api::{self, Api};

async fn broker() -> (BrokerProcess, Api) {
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let anonymous = Api::new(&broker.address());
    let (shares, _, root_token) = api::init(&anonymous, 1, 1).await;
    api::unseal(&anonymous, &shares).await;
    let root = anonymous.with_token(&root_token);
    assert_eq!(
        root.put("sys/mounts/apikey", json!({"type": "apikey"}))
            .await
            .status,
        204
    );
    let role = json!({"prefix": "lsk_live_", "scopes": ["payments:read"], "metadata": {"team": "pay"}, "default_ttl": "1h", "max_ttl": "2h"});
    let reply = root.put("apikey/roles/payments", role).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    (broker, root)
}

async fn verify(api: &Api, key: &str) -> serde_json::Value {
    let reply = api.put("apikey/verify", json!({"key": key})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].clone()
}

#[tokio::test]
async fn issue_verify_renew_revoke_and_policy() {
    let (broker, root) = broker().await;
    let issued = root.get("apikey/creds/payments").await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    let key = issued.body["data"]["key"].as_str().unwrap().to_string();
    let lease_id = issued.body["lease_id"].as_str().unwrap().to_string();
    assert!(key.starts_with("lsk_live_"));
    assert!(lease_id.starts_with("apikey/creds/payments/"));

    let live = verify(&root, &key).await;
    assert_eq!(live["valid"], true);
    assert_eq!(live["role"], "payments");
    assert_eq!(live["scopes"], json!(["payments:read"]));
    assert_eq!(live["lease_id"], lease_id);
    let first_expiry = live["expire_time"].as_str().unwrap().to_string();

    let renewed = root
        .put(
            "sys/leases/renew",
            json!({"lease_id": lease_id, "increment": "90m"}),
        )
        .await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    let after = verify(&root, &key).await;
    assert_eq!(after["valid"], true);
    assert_ne!(
        after["expire_time"].as_str().unwrap(),
        first_expiry,
        "renewal must move the key's expiry"
    );

    // A service token with only `update` on apikey/verify can verify; one without cannot.
    let policy = r#"path "apikey/verify" { capabilities = ["update"] }"#;
    root.put("sys/policies/acl/verifier", json!({"policy": policy}))
        .await;
    let verifier = root
        .put("auth/token/create", json!({"policies": ["verifier"]}))
        .await;
    let verifier = root.with_token(verifier.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(verify(&verifier, &key).await["valid"], true);
    let nobody = root
        .put("auth/token/create", json!({"policies": ["default"]}))
        .await;
    let nobody = root.with_token(nobody.body["auth"]["client_token"].as_str().unwrap());
    assert_eq!(
        nobody
            .put("apikey/verify", json!({"key": key}))
            .await
            .status,
        403
    );

    // Tampered and truncated keys are simply invalid.
    let mut tampered = key.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        verify(&verifier, &String::from_utf8(tampered).unwrap()).await,
        json!({"valid": false})
    );
    assert_eq!(
        verify(&verifier, &key[..key.len() - 3]).await,
        json!({"valid": false})
    );

    assert_eq!(
        root.put("sys/leases/revoke", json!({"lease_id": lease_id}))
            .await
            .status,
        204
    );
    assert_eq!(verify(&verifier, &key).await, json!({"valid": false}));

    // Revoking the token that obtained a key revokes the key.
    let owner = root
        .put("auth/token/create", json!({"policies": ["root"]}))
        .await;
    let owner = root.with_token(owner.body["auth"]["client_token"].as_str().unwrap());
    let owned = owner.get("apikey/creds/payments").await.body["data"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(verify(&verifier, &owned).await["valid"], true);
    assert_eq!(
        owner.put("auth/token/revoke-self", json!({})).await.status,
        204
    );
    assert_eq!(verify(&verifier, &owned).await, json!({"valid": false}));

    // The raw keys are nowhere in storage (the SQLite file and its WAL) or in the log.
    let mut stored = Vec::new();
    for name in ["lessor.db", "lessor.db-wal"] {
        if let Ok(bytes) = std::fs::read(broker.dir().join(name)) {
            stored.extend(bytes);
        }
    }
    assert!(!stored.is_empty());
    let logs = broker.logs();
    for raw in [&key, &owned] {
        let secret = raw.rsplit('_').next().unwrap();
        assert!(
            !contains(&stored, raw.as_bytes()) && !contains(&stored, secret.as_bytes()),
            "a raw key is stored"
        );
        assert!(!logs.contains(raw.as_str()), "a raw key reached the log");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn a_two_second_key_dies_on_its_own() {
    let (_broker, root) = broker().await;
    let issued = root
        .put("apikey/creds/payments", json!({"ttl": "2s"}))
        .await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    let started = Instant::now();
    let key = issued.body["data"]["key"].as_str().unwrap().to_string();
    let lease_id = issued.body["lease_id"].as_str().unwrap().to_string();
    assert_eq!(verify(&root, &key).await["valid"], true);
    // No request touches the key: the expiration manager revokes its lease on time.
    tokio::time::sleep(Duration::from_millis(2900).saturating_sub(started.elapsed())).await;
    let lookup = root
        .put("sys/leases/lookup", json!({"lease_id": lease_id}))
        .await;
    assert_eq!(
        lookup.status, 400,
        "lease still present 0.9 s after expiry: {:?}",
        lookup.body
    );
    assert_eq!(verify(&root, &key).await, json!({"valid": false}));
}
