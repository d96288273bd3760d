//! Kubernetes service-account login through the real broker process, against the
//! HTTPS API-server stand-in: TokenReview mode and local JWKS mode, policy enforcement on the
//! minted token, revoked pods, forged tokens, and no JWT in the broker's log.

use lessor_test_support::broker::BrokerProcess;
use lessor_test_support::kubernetes::{FakeKubernetes, TokenSpec};
use serde_json::json;

use crate::api::Api;

async fn broker_with_kubernetes(
    fake: &FakeKubernetes,
    config: serde_json::Value,
) -> (BrokerProcess, Api) {
    let broker = BrokerProcess::start_dev(&["-dev-storage", "memory"])
        .await
        .unwrap();
    let root = Api::new(&broker.address()).with_token(broker.root_token.as_deref().unwrap());
    assert_eq!(
        root.put("sys/auth/kubernetes", json!({"type": "kubernetes"}))
            .await
            .status,
        204
    );
    let reply = root.put("auth/kubernetes/config", config).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let policy = r#"path "secret/data/payments/*" { capabilities = ["read", "create", "update"] }"#;
    root.put("sys/policies/acl/payments", json!({"policy": policy}))
        .await;
    let reply = root
        .put(
            "auth/kubernetes/role/payments",
            json!({
                "bound_service_account_names": ["payments"],
                "bound_service_account_namespaces": ["prod-*"],
                "audience": fake.issuer(),
                "token_policies": ["payments"],
                "token_ttl": "20m",
            }),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    root.put("secret/data/payments/db", json!({"data": {"user": "pay"}}))
        .await;
    (broker, root)
}

async fn login(api: &Api, jwt: &str) -> crate::api::Reply {
    Api::new(api.base().trim_end_matches("/v1/"))
        .put(
            "auth/kubernetes/login",
            json!({"role": "payments", "jwt": jwt}),
        )
        .await
}

async fn exercise(fake: &FakeKubernetes, broker: &BrokerProcess, root: &Api, review_mode: bool) {
    let good = fake.mint(&TokenSpec::new("prod-eu", "payments"));
    let reply = login(root, &good).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let auth = &reply.body["auth"];
    assert_eq!(auth["policies"], json!(["default", "payments"]));
    assert_eq!(auth["metadata"]["service_account_name"], "payments");
    assert_eq!(auth["metadata"]["service_account_namespace"], "prod-eu");
    assert!(
        auth["metadata"]["pod_name"]
            .as_str()
            .unwrap()
            .starts_with("payments-")
    );
    assert_eq!(auth["lease_duration"], 1200);
    assert_eq!(auth["orphan"], true);
    let workload = root.with_token(auth["client_token"].as_str().unwrap());
    assert_eq!(workload.get("secret/data/payments/db").await.status, 200);
    assert_eq!(workload.get("sys/mounts").await.status, 403);
    assert_eq!(
        workload
            .put("auth/token/renew-self", json!({}))
            .await
            .status,
        200
    );

    let rejected = [
        (
            "wrong namespace",
            fake.mint(&TokenSpec::new("dev", "payments")),
        ),
        (
            "wrong service account",
            fake.mint(&TokenSpec::new("prod-eu", "billing")),
        ),
        (
            "expired",
            fake.mint(&TokenSpec {
                expires_in: -600,
                ..TokenSpec::new("prod-eu", "payments")
            }),
        ),
        (
            "wrong audience",
            fake.mint(&TokenSpec {
                audiences: vec!["other".into()],
                ..TokenSpec::new("prod-eu", "payments")
            }),
        ),
        (
            "foreign key",
            fake.mint_with_foreign_key(&TokenSpec::new("prod-eu", "payments")),
        ),
        (
            "alg none",
            fake.mint_unsigned(&TokenSpec::new("prod-eu", "payments")),
        ),
        (
            "HS256 with the public key",
            fake.mint_hs256_with_public_key(&TokenSpec::new("prod-eu", "payments")),
        ),
    ];
    for (why, jwt) in &rejected {
        let reply = login(root, jwt).await;
        assert_eq!(reply.status, 403, "{why} was accepted: {:?}", reply.body);
        assert_eq!(
            reply.body,
            json!({"errors": ["permission denied"]}),
            "{why}: the client learns nothing"
        );
    }
    assert_eq!(login(root, "not-a-jwt").await.status, 403);
    let unknown_role = Api::new(&broker.address())
        .put(
            "auth/kubernetes/login",
            json!({"role": "nope", "jwt": good}),
        )
        .await;
    assert_eq!(unknown_role.status, 400);

    if review_mode {
        // The API server says the pod is gone: the token no longer logs in.
        let spec = TokenSpec::new("prod-eu", "payments");
        let jwt = fake.mint(&spec);
        assert_eq!(login(root, &jwt).await.status, 200);
        let (pod, _) = spec.pod.clone().unwrap();
        fake.delete_pod("prod-eu", &pod);
        assert_eq!(login(root, &jwt).await.status, 403);
        // An API-server outage is a clear 5xx, never a pass.
        fake.set_down(true);
        let reply = login(root, &good).await;
        assert!(reply.status >= 500, "{:?}", reply.body);
        fake.set_down(false);
    }

    let logs = broker.logs();
    for (_, jwt) in rejected.iter().chain([("good", good.clone())].iter()) {
        let signature = jwt.rsplit('.').next().unwrap();
        assert!(!logs.contains(jwt.as_str()), "a JWT reached the log");
        if signature.len() > 16 {
            assert!(!logs.contains(signature), "a JWT signature reached the log");
        }
    }
    assert!(
        !logs.contains(&fake.reviewer_token()),
        "the reviewer token reached the log"
    );
}

#[tokio::test]
async fn login_with_token_review() {
    let fake = FakeKubernetes::start().await.unwrap();
    let config = json!({
        "kubernetes_host": fake.url(),
        "kubernetes_ca_cert": fake.ca_pem(),
        "token_reviewer_jwt": fake.reviewer_token(),
        "issuer": fake.issuer(),
    });
    let (broker, root) = broker_with_kubernetes(&fake, config).await;
    let config = root.get("auth/kubernetes/config").await;
    assert!(
        !config.body.to_string().contains(&fake.reviewer_token()),
        "config read shows the reviewer JWT"
    );
    let before = fake.token_reviews();
    exercise(&fake, &broker, &root, true).await;
    assert!(
        fake.token_reviews() > before,
        "token_review mode must ask the API server"
    );
}

#[tokio::test]
async fn login_with_local_jwks_verification() {
    let fake = FakeKubernetes::start().await.unwrap();
    let config = json!({
        "kubernetes_host": fake.url(),
        "kubernetes_ca_cert": fake.ca_pem(),
        "validation": "local",
        "jwks_url": fake.jwks_url(),
        "jwks_ca_cert": fake.ca_pem(),
        "issuer": fake.issuer(),
    });
    let (broker, root) = broker_with_kubernetes(&fake, config).await;
    let before = fake.token_reviews();
    exercise(&fake, &broker, &root, false).await;
    assert_eq!(
        fake.token_reviews(),
        before,
        "local mode must not call TokenReview"
    );
    assert!(fake.jwks_fetches() >= 1);
}
