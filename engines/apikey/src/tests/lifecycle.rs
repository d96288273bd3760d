//! Issue, verify, renew, revoke and expire: the life of a key.

use std::time::Duration;

use lessor_sdk::{Clock, EngineError, LeasedSecret, MountStorage, Operation, SecretEngine};
use serde_json::json;

use super::{Harness, rfc3339};

async fn payments(harness: &Harness) {
    harness
        .write_role(
            "payments",
            json!({
                "prefix": "lsk_live_",
                "scopes": ["orders:read", "orders:write"],
                "metadata": {"team": "payments"},
                "default_ttl": "1h",
                "max_ttl": "24h",
            }),
        )
        .await;
}

#[tokio::test]
async fn issue_verify_renew_revoke() {
    let harness = Harness::new().await;
    payments(&harness).await;
    let issue_time = harness.clock.now();
    let issued = harness.issue("payments").await;

    assert!(issued.key.starts_with("lsk_live_"));
    assert_eq!(issued.key_id.len(), 16);
    assert!(issued.key.contains(&issued.key_id));
    assert_eq!(issued.data["role"], "payments");
    assert_eq!(
        issued.data["scopes"],
        json!(["orders:read", "orders:write"])
    );
    assert_eq!(
        issued.data["expire_time"],
        rfc3339(issue_time + Duration::from_secs(3600))
    );
    assert_eq!(issued.spec.kind, "key");
    assert_eq!(issued.spec.ttl, Duration::from_secs(3600));
    assert_eq!(issued.spec.max_ttl, Some(Duration::from_secs(86400)));
    assert!(issued.spec.renewable);
    assert_eq!(
        issued.spec.payload,
        json!({"key_id": issued.key_id, "role": "payments"})
    );

    let verified = harness.verify(&issued.key).await;
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["key_id"], issued.key_id.as_str());
    assert_eq!(verified["role"], "payments");
    assert_eq!(verified["scopes"], json!(["orders:read", "orders:write"]));
    assert_eq!(verified["metadata"], json!({"team": "payments"}));
    assert_eq!(verified["lease_id"], issued.lease.lease_id.as_str());
    assert_eq!(verified["expire_time"], issued.data["expire_time"]);
    assert_eq!(verified["ttl"], 3600);

    harness.clock.advance(Duration::from_secs(1800));
    let renewed = harness
        .engine
        .renew(&harness.ctx, &issued.lease, Some(Duration::from_secs(7200)))
        .await
        .unwrap();
    assert_eq!(renewed.ttl, Duration::from_secs(7200));
    assert!(renewed.warnings.is_empty());
    assert!(renewed.payload.is_none());
    // Past the original expiry, the key lives on with the new one.
    harness.clock.advance(Duration::from_secs(3600));
    let verified = harness.verify(&issued.key).await;
    assert_eq!(verified["valid"], true);
    assert_eq!(
        verified["expire_time"],
        rfc3339(issue_time + Duration::from_secs(1800 + 7200))
    );
    assert_eq!(verified["ttl"], 3600);

    harness
        .engine
        .revoke(&harness.ctx, &issued.lease)
        .await
        .unwrap();
    assert!(!harness.is_valid(&issued.key).await);
    assert!(
        harness
            .memory
            .keys()
            .iter()
            .all(|key| !key.contains(&issued.key_id)),
        "record or index left behind: {:?}",
        harness.memory.keys()
    );
    // Idempotent: revoking again (a retry) succeeds.
    harness
        .engine
        .revoke(&harness.ctx, &issued.lease)
        .await
        .unwrap();
}

#[tokio::test]
async fn expiry_alone_makes_verify_fail() {
    let harness = Harness::new().await;
    payments(&harness).await;
    let issued = harness.issue_with("payments", json!({"ttl": "2s"})).await;
    assert_eq!(issued.spec.ttl, Duration::from_secs(2));

    harness.clock.advance(Duration::from_secs(1));
    assert!(harness.is_valid(&issued.key).await);
    harness.clock.advance(Duration::from_secs(1));
    assert!(!harness.is_valid(&issued.key).await);
    // Nothing revoked it: the record is still there, and verify refuses it anyway.
    assert!(
        harness
            .memory
            .get(&format!("keys/{}", issued.key_id))
            .await
            .unwrap()
            .is_some()
    );
    // An expired key cannot be renewed back to life.
    let result = harness
        .engine
        .renew(&harness.ctx, &issued.lease, Some(Duration::from_secs(60)))
        .await;
    assert!(matches!(result, Err(EngineError::InvalidRequest(_))));
}

#[tokio::test]
async fn renew_is_capped_by_the_role_max_ttl_from_issue() {
    let harness = Harness::new().await;
    harness
        .write_role("short", json!({"default_ttl": "30m", "max_ttl": "2h"}))
        .await;
    let issued = harness.issue("short").await;
    harness.clock.advance(Duration::from_secs(1200));
    let renewed = harness
        .engine
        .renew(
            &harness.ctx,
            &issued.lease,
            Some(Duration::from_secs(5 * 3600)),
        )
        .await
        .unwrap();
    // Two hours from issue, twenty minutes of which are gone.
    assert_eq!(renewed.ttl, Duration::from_secs(6000));
    assert!(
        renewed.warnings[0].contains("capped"),
        "{:?}",
        renewed.warnings
    );
    let verified = harness.verify(&issued.key).await;
    assert_eq!(verified["ttl"], 6000);

    // Without an increment, the role's default TTL applies.
    let renewed = harness
        .engine
        .renew(&harness.ctx, &issued.lease, None)
        .await
        .unwrap();
    assert_eq!(renewed.ttl, Duration::from_secs(1800));
    assert!(renewed.warnings.is_empty());
}

#[tokio::test]
async fn ttls_fall_back_to_and_are_capped_by_the_mount() {
    let harness = Harness::new().await;
    harness.write_role("plain", json!({})).await;
    let issued = harness.issue("plain").await;
    assert_eq!(issued.spec.ttl, harness.ctx.default_lease_ttl);
    assert_eq!(issued.spec.max_ttl, None);

    let issued = harness.issue_with("plain", json!({"ttl": "48h"})).await;
    assert_eq!(issued.spec.ttl, harness.ctx.max_lease_ttl);
    assert!(issued.warnings[0].contains("capped"));

    harness.clock.advance(Duration::from_secs(23 * 3600));
    let renewed = harness
        .engine
        .renew(
            &harness.ctx,
            &issued.lease,
            Some(Duration::from_secs(5 * 3600)),
        )
        .await
        .unwrap();
    assert_eq!(renewed.ttl, Duration::from_secs(3600));
    assert_eq!(renewed.warnings.len(), 1);
}

#[tokio::test]
async fn revoking_a_key_that_was_never_stored_succeeds() {
    let harness = Harness::new().await;
    let now = harness.clock.now();
    let lease = LeasedSecret {
        lease_id: "apikey/creds/payments/intent".into(),
        kind: "key".into(),
        payload: json!({"key_id": "0123456789abcdef", "role": "payments"}),
        issue_time: now,
        expire_time: now,
    };
    harness.engine.revoke(&harness.ctx, &lease).await.unwrap();

    // A payload that would escape into other storage paths is refused, not followed.
    let lease = LeasedSecret {
        payload: json!({"key_id": "../roles/payments", "role": "payments"}),
        ..lease
    };
    assert!(harness.engine.revoke(&harness.ctx, &lease).await.is_err());
    let lease = LeasedSecret {
        kind: "creds".into(),
        ..lease
    };
    assert!(harness.engine.revoke(&harness.ctx, &lease).await.is_err());
}

#[tokio::test]
async fn renewal_needs_the_role() {
    let harness = Harness::new().await;
    payments(&harness).await;
    let issued = harness.issue("payments").await;
    harness
        .call(Operation::Delete, "roles/payments", json!({}))
        .await
        .unwrap();
    // Deleting the role leaves issued keys valid until their leases end…
    assert!(harness.is_valid(&issued.key).await);
    // …but they cannot be extended.
    let result = harness
        .engine
        .renew(&harness.ctx, &issued.lease, None)
        .await;
    assert!(
        matches!(result, Err(EngineError::InvalidRequest(message)) if message.contains("payments"))
    );
}

#[tokio::test]
async fn requesters_add_metadata_but_cannot_override_the_role() {
    let harness = Harness::new().await;
    payments(&harness).await;
    let issued = harness
        .issue_with("payments", json!({"metadata": {"pod": "api-7f9"}}))
        .await;
    let verified = harness.verify(&issued.key).await;
    assert_eq!(
        verified["metadata"],
        json!({"team": "payments", "pod": "api-7f9"})
    );

    let result = harness
        .call(
            Operation::Update,
            "creds/payments",
            json!({"metadata": {"team": "billing"}}),
        )
        .await;
    assert!(super::invalid_request(result).contains("team"));
}

#[tokio::test]
async fn get_issues_too() {
    let harness = Harness::new().await;
    payments(&harness).await;
    let response = harness
        .call(Operation::Read, "creds/payments", json!({}))
        .await
        .unwrap();
    let key = response.data.unwrap()["key"].as_str().unwrap().to_string();
    assert!(response.secret.is_some());
    assert!(harness.is_valid(&key).await);
}
