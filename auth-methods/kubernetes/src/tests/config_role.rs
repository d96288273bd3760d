//! `config` and `role/:name`: shapes, defaults, validation, and what is never returned.

use lessor_sdk::{AuthMethod, EngineError, Operation};
use serde_json::json;

use super::Harness;

#[tokio::test]
async fn config_read_hides_the_reviewer_token() {
    let h = Harness::bare().await;
    let missing = h.call(Operation::Read, "config", "config", json!({})).await;
    assert!(matches!(missing, Err(EngineError::NotFound)));

    let reviewer = h.fake.reviewer_token();
    h.write_config(json!({
        "kubernetes_host": h.fake.url(),
        "kubernetes_ca_cert": h.fake.ca_pem(),
        "token_reviewer_jwt": reviewer,
        "issuer": h.fake.issuer(),
    }))
    .await;
    let data = h
        .call(Operation::Read, "config", "config", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["kubernetes_host"], json!(h.fake.url()));
    assert_eq!(data["token_reviewer_jwt_set"], json!(true));
    assert_eq!(data["validation"], json!("token_review"));
    assert_eq!(data["issuer"], json!(h.fake.issuer()));
    assert!(data.get("token_reviewer_jwt").is_none());
    assert!(!serde_json::to_string(&data).unwrap().contains(&reviewer));

    // A write replaces the whole config: leaving the reviewer token out unsets it.
    h.write_config(json!({"kubernetes_host": "10.0.0.1:6443"}))
        .await;
    let data = h
        .call(Operation::Read, "config", "config", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["kubernetes_host"], json!("https://10.0.0.1:6443"));
    assert_eq!(data["token_reviewer_jwt_set"], json!(false));
}

#[tokio::test]
async fn config_validation() {
    let h = Harness::bare().await;
    let bad = [
        json!({"validation": "local"}),
        json!({"validation": "sometimes"}),
        json!({"pem_keys": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]}),
        json!({"kubernetes_ca_cert": "not a certificate"}),
        json!({"jwks_url": "http://issuer.example/jwks"}),
        json!({"kubernetes_host": "ftp://x"}),
        json!({"no_such_field": true}),
    ];
    for body in bad {
        let result = h
            .call(Operation::Update, "config", "config", body.clone())
            .await;
        assert!(
            matches!(result, Err(EngineError::InvalidRequest(_))),
            "{body} should be refused, got {result:?}"
        );
    }
    // pem_keys as one string, and a certificate bundle, are fine.
    h.write_config(json!({
        "validation": "local",
        "pem_keys": h.fake.public_key_pem(),
        "kubernetes_ca_cert": h.fake.ca_pem(),
    }))
    .await;
}

#[tokio::test]
async fn role_round_trip_with_legacy_aliases() {
    let h = Harness::bare().await;
    h.call(
        Operation::Create,
        "role/:name",
        "role/legacy",
        json!({
            "bound_service_account_names": "web, worker",
            "bound_service_account_namespaces": ["apps-*"],
            "policies": "a,b",
            "ttl": "1h",
            "max_ttl": 7200,
            "period": "0",
            "num_uses": 3,
            "bound_cidrs": ["10.0.0.0/8"],
            "audience": "lessor",
            "alias_name_source": "serviceaccount_name",
            "token_type": "default",
        }),
    )
    .await
    .unwrap();
    let data = h
        .call(Operation::Read, "role/:name", "role/legacy", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        data["bound_service_account_names"],
        json!(["web", "worker"])
    );
    assert_eq!(data["bound_service_account_namespaces"], json!(["apps-*"]));
    assert_eq!(data["token_policies"], json!(["a", "b"]));
    assert_eq!(data["policies"], json!(["a", "b"]));
    assert_eq!(data["token_ttl"], json!(3600));
    assert_eq!(data["token_max_ttl"], json!(7200));
    assert_eq!(data["token_num_uses"], json!(3));
    assert_eq!(data["token_bound_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(data["audience"], json!("lessor"));
    assert_eq!(data["alias_name_source"], json!("serviceaccount_name"));

    // An update merges; the token_ name wins over its legacy alias.
    h.call(
        Operation::Update,
        "role/:name",
        "role/legacy",
        json!({"token_policies": ["c"], "policies": ["ignored"]}),
    )
    .await
    .unwrap();
    let data = h
        .call(Operation::Read, "role/:name", "role/legacy", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["token_policies"], json!(["c"]));
    assert_eq!(data["token_ttl"], json!(3600));

    let list = h
        .call(Operation::List, "role", "role", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(list["keys"], json!(["legacy"]));

    h.call(Operation::Delete, "role/:name", "role/legacy", json!({}))
        .await
        .unwrap();
    let gone = h
        .call(Operation::Read, "role/:name", "role/legacy", json!({}))
        .await;
    assert!(matches!(gone, Err(EngineError::NotFound)));
}

#[tokio::test]
async fn role_validation() {
    let h = Harness::bare().await;
    let bad = [
        json!({"bound_service_account_namespaces": ["apps"]}),
        json!({"bound_service_account_names": ["web"]}),
        json!({"bound_service_account_names": [], "bound_service_account_namespaces": ["a"]}),
        json!({"bound_service_account_names": ["*", "web"], "bound_service_account_namespaces": ["a"]}),
        json!({"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["a"],
               "token_ttl": "2h", "token_max_ttl": "1h"}),
        json!({"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["a"],
               "token_type": "batch"}),
        json!({"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["a"],
               "token_bound_cidrs": ["not-a-cidr"]}),
        json!({"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["a"],
               "alias_name_source": "pod_name"}),
        json!({"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["a"],
               "token_ttl": -5}),
        json!({"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["a"],
               "surprise": 1}),
    ];
    for body in bad {
        let result = h
            .call(Operation::Update, "role/:name", "role/r", body.clone())
            .await;
        assert!(
            matches!(result, Err(EngineError::InvalidRequest(_))),
            "{body} should be refused, got {result:?}"
        );
    }
    // `*` alone is an explicit "any".
    h.call(
        Operation::Update,
        "role/:name",
        "role/r",
        json!({"bound_service_account_names": "*", "bound_service_account_namespaces": "*"}),
    )
    .await
    .unwrap();
    let bad_name = h
        .call(Operation::Update, "role/:name", "role/bad name", json!({}))
        .await;
    assert!(matches!(bad_name, Err(EngineError::InvalidRequest(_))));
}

#[tokio::test]
async fn exists_tells_create_from_update() {
    let h = Harness::bare().await;
    let request = |path: &str| lessor_sdk::Request {
        id: "t".into(),
        operation: Operation::Update,
        route: "role/:name",
        path: path.into(),
        params: lessor_sdk::RoutePattern::new("role/:name")
            .matches(path)
            .unwrap(),
        data: Default::default(),
        client: None,
        mount_path: "auth/kubernetes/".into(),
    };
    assert!(!h.auth.exists(&h.ctx, &request("role/app")).await.unwrap());
    h.write_role("app", json!({})).await;
    assert!(h.auth.exists(&h.ctx, &request("role/app")).await.unwrap());
}

#[tokio::test]
async fn routes_mark_only_login_unauthenticated() {
    let h = Harness::bare().await;
    let routes = h.auth.routes();
    let open: Vec<_> = routes
        .iter()
        .filter(|route| route.unauthenticated)
        .map(|route| route.pattern.source())
        .collect();
    assert_eq!(open, ["login"]);
}
