//! The same flow through a real third-party Vault client (`vaultrs`): if its request
//! building and response parsing accept Lessor, Vault clients work unchanged.

use std::collections::HashMap;

use lessor_test_support::broker::{BrokerProcess, Storage};
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::{kv2, sys, token};

fn client(address: &str, token: &str) -> VaultClient {
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(address)
            .token(token)
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn vaultrs_drives_init_unseal_tokens_policies_and_kv() {
    let broker = BrokerProcess::start(Storage::Sqlite, "").await.unwrap();
    let anonymous = client(&broker.address(), "");

    let init = sys::start_initialization(&anonymous, 5, 3, None)
        .await
        .unwrap();
    assert_eq!(init.keys.len(), 5);
    for (index, key) in init.keys.iter().take(3).enumerate() {
        let status = sys::unseal(&anonymous, Some(key.clone()), None, None)
            .await
            .unwrap();
        assert_eq!(status.sealed, index < 2);
    }
    assert!(matches!(
        sys::status(&anonymous).await.unwrap(),
        sys::ServerStatus::OK
    ));

    let root = client(&broker.address(), &init.root_token);
    sys::mount::enable(
        &root,
        "secret",
        "kv",
        Some(
            vaultrs::api::sys::requests::EnableEngineRequest::builder()
                .options(HashMap::from([("version".to_string(), "2".to_string())])),
        ),
    )
    .await
    .unwrap();
    let mounts = sys::mount::list(&root).await.unwrap();
    assert_eq!(mounts["secret/"].mount_type, "kv");

    sys::policy::set(
        &root,
        "app",
        r#"path "secret/*" { capabilities = ["create", "read", "update", "list"] }"#,
    )
    .await
    .unwrap();
    let created = token::new(
        &root,
        Some(
            vaultrs::api::token::requests::CreateTokenRequest::builder()
                .policies(vec!["app".to_string()])
                .ttl("1h"),
        ),
    )
    .await
    .unwrap();
    let app = client(&broker.address(), &created.client_token);
    let lookup = app.lookup().await.unwrap();
    assert_eq!(
        lookup.policies,
        vec!["app".to_string(), "default".to_string()]
    );
    assert!(
        lookup.ttl > 3500 && lookup.ttl <= 3600,
        "ttl {}",
        lookup.ttl
    );

    let first = HashMap::from([("api_key".to_string(), "v1-value".to_string())]);
    let second = HashMap::from([("api_key".to_string(), "v2-value".to_string())]);
    kv2::set(&app, "secret", "team/service", &first)
        .await
        .unwrap();
    let meta = kv2::set(&app, "secret", "team/service", &second)
        .await
        .unwrap();
    assert_eq!(meta.version, 2);
    let latest: HashMap<String, String> = kv2::read(&app, "secret", "team/service").await.unwrap();
    assert_eq!(latest, second);
    let old: HashMap<String, String> = kv2::read_version(&app, "secret", "team/service", 1)
        .await
        .unwrap();
    assert_eq!(old, first);
    let metadata = kv2::read_metadata(&app, "secret", "team/service")
        .await
        .unwrap();
    assert_eq!(metadata.current_version, 2);
    assert_eq!(metadata.versions.len(), 2);
    assert_eq!(
        kv2::list(&app, "secret", "team").await.unwrap(),
        vec!["service".to_string()]
    );

    // Denied for the app token, allowed for root.
    assert!(sys::seal(&app).await.is_err());
    sys::seal(&root).await.unwrap();
    assert!(matches!(
        sys::status(&anonymous).await.unwrap(),
        sys::ServerStatus::SEALED
    ));
    for key in init.keys.iter().skip(2) {
        sys::unseal(&anonymous, Some(key.clone()), None, None)
            .await
            .unwrap();
    }
    let latest: HashMap<String, String> = kv2::read(&app, "secret", "team/service").await.unwrap();
    assert_eq!(latest, second);

    token::revoke_self(&app).await.unwrap();
    assert!(app.lookup().await.is_err(), "a revoked token still works");
}
