//! token_review mode: the API server's verdict, reached through `kube::Client`.

use std::time::Duration;

use lessor_sdk::{EngineError, Operation};
use lessor_test_support::kubernetes::{FakeKubernetes, TokenSpec};
use serde_json::json;

use super::{Harness, assert_denied, assert_upstream};
use crate::{InCluster, KubernetesAuth};

#[tokio::test]
async fn login_grants_the_roles_policies_and_metadata() {
    let h = Harness::token_review().await;
    let spec = TokenSpec::new("apps", "web");
    let (pod_name, pod_uid) = spec.pod.clone().unwrap();
    let grant = h.login("app", &h.fake.mint(&spec)).await.unwrap();

    assert_eq!(h.fake.token_reviews(), 1);
    assert_eq!(grant.policies, ["app-read"]);
    assert_eq!(grant.ttl, Duration::from_secs(3600));
    assert_eq!(grant.max_ttl, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(grant.period, None);
    assert!(grant.renewable);
    assert_eq!(grant.display_name, "apps-web");
    let meta = &grant.metadata;
    assert_eq!(meta["role"], "app");
    assert_eq!(meta["service_account_name"], "web");
    assert_eq!(meta["service_account_namespace"], "apps");
    assert_eq!(meta["service_account_uid"], spec.service_account_uid);
    assert_eq!(meta["pod_name"], pod_name);
    assert_eq!(meta["pod_uid"], pod_uid);
    assert_eq!(grant.internal["role"], "app");
    assert_eq!(grant.internal["alias"], json!(spec.service_account_uid));
}

#[tokio::test]
async fn globs_and_name_aliases() {
    let h = Harness::token_review().await;
    h.write_role(
        "team",
        json!({
            "bound_service_account_names": ["*"],
            "bound_service_account_namespaces": ["team-*"],
            "alias_name_source": "serviceaccount_name",
        }),
    )
    .await;
    let grant = h
        .login("team", &h.fake.mint(&TokenSpec::new("team-a", "anything")))
        .await
        .unwrap();
    assert_eq!(grant.internal["alias"], "team-a/anything");
    assert_denied(
        h.login("team", &h.fake.mint(&TokenSpec::new("teams", "x")))
            .await,
    );
}

#[tokio::test]
async fn wrong_namespace_is_denied_without_a_review() {
    let h = Harness::token_review().await;
    assert_denied(
        h.login("app", &h.fake.mint(&TokenSpec::new("other", "web")))
            .await,
    );
    assert_eq!(
        h.fake.token_reviews(),
        0,
        "claims that can never pass cost no round trip"
    );
}

#[tokio::test]
async fn wrong_service_account_is_denied() {
    let h = Harness::token_review().await;
    assert_denied(
        h.login("app", &h.fake.mint(&TokenSpec::new("apps", "db")))
            .await,
    );
}

#[tokio::test]
async fn expired_token_is_denied() {
    let h = Harness::token_review().await;
    let spec = TokenSpec {
        expires_in: -300,
        ..TokenSpec::new("apps", "web")
    };
    assert_denied(h.login("app", &h.fake.mint(&spec)).await);
    assert_eq!(h.fake.token_reviews(), 1, "the API server judged it");
}

#[tokio::test]
async fn not_yet_valid_token_is_denied() {
    let h = Harness::token_review().await;
    let spec = TokenSpec {
        not_before_in: 600,
        ..TokenSpec::new("apps", "web")
    };
    assert_denied(h.login("app", &h.fake.mint(&spec)).await);
}

#[tokio::test]
async fn forged_tokens_are_denied() {
    let h = Harness::token_review().await;
    let spec = TokenSpec::new("apps", "web");
    assert_denied(h.login("app", &h.fake.mint_with_foreign_key(&spec)).await);
    assert_denied(h.login("app", &h.fake.mint_unsigned(&spec)).await);
    assert_denied(
        h.login("app", &h.fake.mint_hs256_with_public_key(&spec))
            .await,
    );
    // The same claims, properly signed, pass: the forgeries failed on their signatures.
    h.login("app", &h.fake.mint(&spec)).await.unwrap();
}

#[tokio::test]
async fn audience_is_sent_and_enforced() {
    let h = Harness::token_review().await;
    h.write_role("aud", json!({"audience": "lessor"})).await;
    // Minted for the API server's own audience only.
    assert_denied(h.login("aud", &h.web_token()).await);
    let spec = TokenSpec {
        audiences: vec!["lessor".into()],
        ..TokenSpec::new("apps", "web")
    };
    h.login("aud", &h.fake.mint(&spec)).await.unwrap();
}

#[tokio::test]
async fn wrong_issuer_is_denied_when_configured() {
    let h = Harness::token_review().await;
    let other = TokenSpec {
        issuer: Some("https://elsewhere.example".into()),
        ..TokenSpec::new("apps", "web")
    };
    h.write_config(json!({
        "kubernetes_host": h.fake.url(),
        "kubernetes_ca_cert": h.fake.ca_pem(),
        "token_reviewer_jwt": h.fake.reviewer_token(),
        "issuer": h.fake.issuer(),
    }))
    .await;
    assert_denied(h.login("app", &h.fake.mint(&other)).await);
    assert_eq!(h.fake.token_reviews(), 0);
    h.login("app", &h.web_token()).await.unwrap();
}

#[tokio::test]
async fn deleted_pod_or_service_account_is_denied() {
    let h = Harness::token_review().await;
    let spec = TokenSpec::new("apps", "web");
    let token = h.fake.mint(&spec);
    h.login("app", &token).await.unwrap();
    h.fake.delete_pod("apps", &spec.pod.clone().unwrap().0);
    assert_denied(h.login("app", &token).await);

    let token = h.web_token();
    h.login("app", &token).await.unwrap();
    h.fake.delete_service_account("apps", "web");
    assert_denied(h.login("app", &token).await);
}

#[tokio::test]
async fn legacy_secret_tokens_carry_their_secret_and_die_with_it() {
    let h = Harness::token_review().await;
    let spec = TokenSpec {
        legacy: true,
        ..TokenSpec::new("apps", "web")
    };
    let token = h.fake.mint(&spec);
    let grant = h.login("app", &token).await.unwrap();
    let secret = grant.metadata["service_account_secret_name"].clone();
    assert!(!secret.is_empty());
    assert!(!grant.metadata.contains_key("pod_name"));
    h.fake.delete_secret("apps", &secret);
    assert_denied(h.login("app", &token).await);
}

#[tokio::test]
async fn malformed_jwt_is_denied_without_a_review() {
    let h = Harness::token_review().await;
    for jwt in ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.!!!.sig"] {
        assert_denied(h.login("app", jwt).await);
    }
    assert_eq!(h.fake.token_reviews(), 0);
}

#[tokio::test]
async fn bad_requests_are_400() {
    let h = Harness::token_review().await;
    let token = h.web_token();
    for body in [
        json!({"role": "nope", "jwt": token}),
        json!({"jwt": token}),
        json!({"role": "app"}),
        json!({"role": "app", "jwt": 42}),
        json!({"role": "a/b", "jwt": token}),
    ] {
        let result = h
            .call(Operation::Update, "login", "login", body.clone())
            .await;
        assert!(
            matches!(result, Err(EngineError::InvalidRequest(_))),
            "{body} should be a 400, got {result:?}"
        );
    }
}

#[tokio::test]
async fn api_server_down_is_an_upstream_error() {
    let h = Harness::token_review().await;
    h.fake.set_down(true);
    assert_upstream(h.login("app", &h.web_token()).await);
    h.fake.set_down(false);
    h.login("app", &h.web_token()).await.unwrap();
}

#[tokio::test]
async fn unreachable_api_server_is_an_upstream_error() {
    let h = Harness::token_review().await;
    let token = h.web_token();
    // Point the config at a port nothing listens on (the stand-in's, once it is gone).
    let gone = FakeKubernetes::start().await.unwrap();
    let url = gone.url();
    drop(gone);
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.write_config(json!({
        "kubernetes_host": url,
        "kubernetes_ca_cert": h.fake.ca_pem(),
        "token_reviewer_jwt": h.fake.reviewer_token(),
    }))
    .await;
    assert_upstream(h.login("app", &token).await);
}

#[tokio::test]
async fn a_refused_reviewer_token_is_an_upstream_error() {
    let h = Harness::token_review().await;
    // A valid token of an account without system:auth-delegator: 403 from the API server.
    let unprivileged = h.fake.mint(&TokenSpec::new("apps", "web"));
    h.write_config(json!({
        "kubernetes_host": h.fake.url(),
        "kubernetes_ca_cert": h.fake.ca_pem(),
        "token_reviewer_jwt": unprivileged,
    }))
    .await;
    assert_upstream(h.login("app", &h.web_token()).await);
}

#[tokio::test]
async fn without_a_reviewer_token_the_login_jwt_reviews_itself() {
    let h = Harness::token_review().await;
    h.write_config(json!({
        "kubernetes_host": h.fake.url(),
        "kubernetes_ca_cert": h.fake.ca_pem(),
        "disable_local_ca_jwt": true,
    }))
    .await;
    assert_upstream(h.login("app", &h.web_token()).await);
    h.fake.allow_token_review("apps", "web");
    h.login("app", &h.web_token()).await.unwrap();
}

/// Nothing configured at all: host, CA and reviewer token come from the pod, and the token
/// file is re-read after kubelet rotates it.
#[tokio::test]
async fn in_cluster_reviewer_token_is_reread_after_it_changes() {
    let mut h = Harness::bare().await;
    let ca = h.path("ca.crt");
    let token_file = h.path("token");
    std::fs::write(&ca, h.fake.ca_pem()).unwrap();
    std::fs::write(&token_file, "stale-token-from-before-the-rotation").unwrap();
    h.auth = KubernetesAuth::with_in_cluster(InCluster {
        host: Some(h.fake.url()),
        ca_cert_path: ca,
        token_path: token_file.clone(),
    });
    h.write_role("app", json!({})).await;

    assert_upstream(h.login("app", &h.web_token()).await);
    std::fs::write(&token_file, format!("{}\n", h.fake.reviewer_token())).unwrap();
    h.login("app", &h.web_token()).await.unwrap();
    std::fs::write(&token_file, "rotated-away").unwrap();
    assert_upstream(h.login("app", &h.web_token()).await);
}

#[tokio::test]
async fn renewal_follows_the_role() {
    let h = Harness::token_review().await;
    let grant = h.login("app", &h.web_token()).await.unwrap();

    h.write_role("app", json!({"token_ttl": "30m", "token_max_ttl": "2h"}))
        .await;
    let renewed = h.renew(&grant).await.unwrap();
    assert_eq!(renewed.ttl, Duration::from_secs(1800));
    assert_eq!(renewed.max_ttl, Some(Duration::from_secs(7200)));
    assert_eq!(renewed.policies, ["app-read"]);
    assert_eq!(renewed.metadata, grant.metadata);

    h.write_role("app", json!({"bound_service_account_names": ["db"]}))
        .await;
    assert!(matches!(
        h.renew(&grant).await,
        Err(EngineError::PermissionDenied)
    ));

    h.call(Operation::Delete, "role/:name", "role/app", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        h.renew(&grant).await,
        Err(EngineError::PermissionDenied)
    ));
}
