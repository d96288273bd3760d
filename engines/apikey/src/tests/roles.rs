//! Role CRUD, validation, and who may verify.

use lessor_sdk::{EngineError, Operation, SecretEngine};
use serde_json::json;

use super::{Harness, client, invalid_request};
use crate::key;

#[tokio::test]
async fn create_read_update_list_delete() {
    let harness = Harness::new().await;
    harness.write_role("app", json!({})).await;
    let role = harness.data(Operation::Read, "roles/app", json!({})).await;
    assert_eq!(
        serde_json::Value::Object(role),
        json!({
            "prefix": "lsk_",
            "bytes": 32,
            "default_ttl": 0,
            "max_ttl": 0,
            "scopes": [],
            "metadata": {},
            "allowed_verifiers": [],
        })
    );

    // CLI forms: numbers and lists as strings. Fields not given keep their values.
    harness
        .call(
            Operation::Update,
            "roles/app",
            json!({"bytes": "48", "scopes": "read,write", "metadata": "team=a"}),
        )
        .await
        .unwrap();
    harness
        .call(Operation::Update, "roles/app", json!({"max_ttl": "2h"}))
        .await
        .unwrap();
    let role = harness.data(Operation::Read, "roles/app", json!({})).await;
    assert_eq!(role["bytes"], 48);
    assert_eq!(role["scopes"], json!(["read", "write"]));
    assert_eq!(role["metadata"], json!({"team": "a"}));
    assert_eq!(role["max_ttl"], 7200);

    harness.write_role("other", json!({})).await;
    let list = harness.data(Operation::List, "roles/", json!({})).await;
    assert_eq!(list["keys"], json!(["app", "other"]));

    let request_exists = |name: &str| {
        let route = harness
            .engine
            .routes()
            .into_iter()
            .find(|route| route.pattern.source() == "roles/:name")
            .unwrap();
        lessor_sdk::Request {
            id: "r".into(),
            operation: Operation::Update,
            route: route.pattern.source(),
            path: format!("roles/{name}"),
            params: route.pattern.matches(&format!("roles/{name}")).unwrap(),
            data: Default::default(),
            client: None,
            mount_path: super::MOUNT.into(),
        }
    };
    assert!(
        harness
            .engine
            .exists(&harness.ctx, &request_exists("app"))
            .await
            .unwrap()
    );

    harness
        .call(Operation::Delete, "roles/app", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        harness.call(Operation::Read, "roles/app", json!({})).await,
        Err(EngineError::NotFound)
    ));
    assert!(
        !harness
            .engine
            .exists(&harness.ctx, &request_exists("app"))
            .await
            .unwrap()
    );
    let list = harness.data(Operation::List, "roles/", json!({})).await;
    assert_eq!(list["keys"], json!(["other"]));
}

#[tokio::test]
async fn listing_roles_is_not_cluttered_by_issued_keys() {
    let harness = Harness::new().await;
    harness.write_role("app", json!({})).await;
    harness.issue("app").await;
    let list = harness.data(Operation::List, "roles/", json!({})).await;
    assert_eq!(list["keys"], json!(["app"]));
}

#[tokio::test]
async fn bad_inputs_are_400() {
    let harness = Harness::new().await;
    let long_prefix = "a".repeat(33);
    let cases = [
        (json!({"bytes": 31}), "bytes"),
        (json!({"bytes": 65}), "bytes"),
        (json!({"bytes": "many"}), "integer"),
        (json!({"prefix": "LSK_"}), "prefix"),
        (json!({"prefix": "lsk-live"}), "prefix"),
        (json!({"prefix": long_prefix}), "prefix"),
        (json!({"scope": ["read"]}), "unknown field"),
        (json!({"default_ttl": "2h", "max_ttl": "1h"}), "default_ttl"),
        (json!({"scopes": ["has space"]}), "scopes"),
        (json!({"name": "other"}), "name"),
        (json!({"default_ttl": "-5s"}), "duration"),
    ];
    for (body, expected) in cases {
        let message = invalid_request(
            harness
                .call(Operation::Create, "roles/app", body.clone())
                .await,
        );
        assert!(message.contains(expected), "{body}: {message}");
    }
    // Nothing was stored by the failed writes.
    assert!(matches!(
        harness.call(Operation::Read, "roles/app", json!({})).await,
        Err(EngineError::NotFound)
    ));
    invalid_request(
        harness
            .call(Operation::Create, "roles/.hidden", json!({}))
            .await,
    );

    harness.write_role("app", json!({})).await;
    invalid_request(
        harness
            .call(
                Operation::Update,
                "creds/app",
                json!({"ttl": "1h", "scopes": []}),
            )
            .await,
    );
    let message = invalid_request(
        harness
            .call(Operation::Update, "creds/missing", json!({}))
            .await,
    );
    assert!(message.contains("unknown role"));
}

#[tokio::test]
async fn bytes_sets_the_entropy_of_the_secret() {
    let harness = Harness::new().await;
    harness
        .write_role("big", json!({"bytes": 64, "prefix": ""}))
        .await;
    let issued = harness.issue("big").await;
    let parsed = key::parse(&issued.key).unwrap();
    assert_eq!(parsed.prefix, "");
    assert_eq!(parsed.secret.len(), 86);
    assert!(harness.is_valid(&issued.key).await);
}

#[tokio::test]
async fn allowed_verifiers_are_enforced() {
    let harness = Harness::new().await;
    harness
        .write_role("restricted", json!({"allowed_verifiers": ["billing"]}))
        .await;
    harness.write_role("open", json!({})).await;
    let restricted = harness.issue("restricted").await.key;
    let open = harness.issue("open").await.key;

    let denied = harness
        .verify_as(&restricted, Some(client(&["default", "web"])))
        .await;
    assert!(matches!(denied, Err(EngineError::PermissionDenied)));
    assert!(matches!(
        harness.verify_as(&restricted, None).await,
        Err(EngineError::PermissionDenied)
    ));
    for allowed in [client(&["default", "billing"]), client(&["root"])] {
        let data = harness.verify_as(&restricted, Some(allowed)).await.unwrap();
        assert_eq!(data["valid"], true);
    }
    // A wrong key is just invalid, for everyone: the 403 reveals nothing about it.
    let parsed = key::parse(&restricted).unwrap();
    let other_secret = "A".repeat(parsed.secret.len());
    let wrong = key::IssuedKey::compose(parsed.prefix, parsed.key_id, &other_secret);
    let wrong = wrong.expose().to_string();
    let data = harness
        .verify_as(&wrong, Some(client(&["web"])))
        .await
        .unwrap();
    assert_eq!(data["valid"], false);
    // Roles without a restriction verify for any caller the ACL let through.
    let data = harness
        .verify_as(&open, Some(client(&["web"])))
        .await
        .unwrap();
    assert_eq!(data["valid"], true);

    // An empty list lifts the restriction for keys issued afterwards.
    harness
        .call(
            Operation::Update,
            "roles/restricted",
            json!({"allowed_verifiers": []}),
        )
        .await
        .unwrap();
    let later = harness.issue("restricted").await.key;
    let data = harness
        .verify_as(&later, Some(client(&["web"])))
        .await
        .unwrap();
    assert_eq!(data["valid"], true);
}
