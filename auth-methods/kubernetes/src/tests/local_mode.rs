//! local mode: signatures verified here against the JWKS or PEM keys; no TokenReview.

use std::time::Duration;

use lessor_test_support::kubernetes::TokenSpec;
use serde_json::json;

use super::{Harness, assert_denied, assert_upstream};
use crate::jwks::MIN_REFETCH_INTERVAL;

#[tokio::test]
async fn login_with_the_jwks_grants_the_role() {
    let h = Harness::local().await;
    let spec = TokenSpec::new("apps", "web");
    let grant = h.login("app", &h.fake.mint(&spec)).await.unwrap();
    assert_eq!(grant.policies, ["app-read"]);
    assert_eq!(grant.metadata["service_account_namespace"], "apps");
    assert_eq!(grant.metadata["service_account_name"], "web");
    assert_eq!(
        grant.metadata["service_account_uid"],
        spec.service_account_uid
    );
    assert_eq!(grant.metadata["pod_name"], spec.pod.unwrap().0);
    assert_eq!(
        h.fake.token_reviews(),
        0,
        "local mode never asks the API server"
    );
    assert_eq!(h.fake.jwks_fetches(), 1);

    h.login("app", &h.web_token()).await.unwrap();
    assert_eq!(h.fake.jwks_fetches(), 1, "the JWKS is cached");
}

#[tokio::test]
async fn login_with_pem_keys() {
    let h = Harness::local().await;
    h.write_config(json!({"validation": "local", "pem_keys": [h.fake.public_key_pem()]}))
        .await;
    h.login("app", &h.web_token()).await.unwrap();
    assert_eq!(h.fake.jwks_fetches(), 0);
    assert_eq!(h.fake.token_reviews(), 0);
    // A key the PEM list does not hold.
    h.fake.rotate_signing_key();
    assert_denied(h.login("app", &h.web_token()).await);
}

#[tokio::test]
async fn wrong_namespace_is_denied() {
    let h = Harness::local().await;
    assert_denied(
        h.login("app", &h.fake.mint(&TokenSpec::new("other", "web")))
            .await,
    );
}

#[tokio::test]
async fn wrong_service_account_is_denied() {
    let h = Harness::local().await;
    assert_denied(
        h.login("app", &h.fake.mint(&TokenSpec::new("apps", "db")))
            .await,
    );
}

#[tokio::test]
async fn expired_token_is_denied() {
    let h = Harness::local().await;
    let spec = TokenSpec {
        expires_in: -300,
        ..TokenSpec::new("apps", "web")
    };
    assert_denied(h.login("app", &h.fake.mint(&spec)).await);

    // A good token stops working once the (injected) clock passes exp plus the leeway.
    let spec = TokenSpec {
        expires_in: 120,
        ..TokenSpec::new("apps", "web")
    };
    let token = h.fake.mint(&spec);
    h.login("app", &token).await.unwrap();
    h.clock.advance(Duration::from_secs(120 + 30));
    h.login("app", &token).await.unwrap();
    h.clock.advance(Duration::from_secs(60));
    assert_denied(h.login("app", &token).await);
}

#[tokio::test]
async fn not_yet_valid_token_is_denied() {
    let h = Harness::local().await;
    let spec = TokenSpec {
        not_before_in: 600,
        ..TokenSpec::new("apps", "web")
    };
    let token = h.fake.mint(&spec);
    assert_denied(h.login("app", &token).await);
    h.clock.advance(Duration::from_secs(600));
    h.login("app", &token).await.unwrap();
}

#[tokio::test]
async fn bad_signature_is_denied() {
    let h = Harness::local().await;
    let spec = TokenSpec::new("apps", "web");
    assert_denied(h.login("app", &h.fake.mint_with_foreign_key(&spec)).await);
}

#[tokio::test]
async fn alg_none_is_denied() {
    let h = Harness::local().await;
    let spec = TokenSpec::new("apps", "web");
    assert_denied(h.login("app", &h.fake.mint_unsigned(&spec)).await);
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_denied() {
    let h = Harness::local().await;
    let spec = TokenSpec::new("apps", "web");
    assert_denied(
        h.login("app", &h.fake.mint_hs256_with_public_key(&spec))
            .await,
    );
    // Also with the PEM key configured, the very key the forgery uses as its secret.
    h.write_config(json!({"validation": "local", "pem_keys": [h.fake.public_key_pem()]}))
        .await;
    assert_denied(
        h.login("app", &h.fake.mint_hs256_with_public_key(&spec))
            .await,
    );
    h.login("app", &h.fake.mint(&spec)).await.unwrap();
}

#[tokio::test]
async fn wrong_audience_is_denied() {
    let h = Harness::local().await;
    h.write_role("aud", json!({"audience": "lessor"})).await;
    assert_denied(h.login("aud", &h.web_token()).await);
    let spec = TokenSpec {
        audiences: vec!["other".into(), "lessor".into()],
        ..TokenSpec::new("apps", "web")
    };
    h.login("aud", &h.fake.mint(&spec)).await.unwrap();
}

#[tokio::test]
async fn wrong_issuer_is_denied_when_configured() {
    let h = Harness::local().await;
    let foreign = TokenSpec {
        issuer: Some("https://elsewhere.example".into()),
        ..TokenSpec::new("apps", "web")
    };
    // Not configured: the issuer is not checked.
    h.login("app", &h.fake.mint(&foreign)).await.unwrap();
    h.write_config(json!({
        "validation": "local",
        "jwks_url": h.fake.jwks_url(),
        "jwks_ca_cert": h.fake.ca_pem(),
        "issuer": h.fake.issuer(),
    }))
    .await;
    assert_denied(h.login("app", &h.fake.mint(&foreign)).await);
    h.login("app", &h.web_token()).await.unwrap();
    // disable_iss_validation turns the check off again.
    h.write_config(json!({
        "validation": "local",
        "jwks_url": h.fake.jwks_url(),
        "jwks_ca_cert": h.fake.ca_pem(),
        "issuer": h.fake.issuer(),
        "disable_iss_validation": true,
    }))
    .await;
    h.login("app", &h.fake.mint(&foreign)).await.unwrap();
}

#[tokio::test]
async fn malformed_jwt_is_denied() {
    let h = Harness::local().await;
    for jwt in [
        "not-a-jwt",
        "a.b.c",
        "a.b.c.d",
        "eyJhbGciOiJSUzI1NiJ9.!!!.sig",
    ] {
        assert_denied(h.login("app", jwt).await);
    }
}

#[tokio::test]
async fn unknown_role_is_a_bad_request() {
    let h = Harness::local().await;
    let result = h.login("nope", &h.web_token()).await;
    assert!(matches!(
        result,
        Err(lessor_sdk::EngineError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn unknown_kid_refetches_once_within_the_rate_bound() {
    let h = Harness::local().await;
    h.login("app", &h.web_token()).await.unwrap();
    assert_eq!(h.fake.jwks_fetches(), 1);

    h.clock
        .advance(MIN_REFETCH_INTERVAL + Duration::from_secs(1));
    let unknown = |kid: &str| {
        h.fake.mint(&TokenSpec {
            kid: Some(kid.into()),
            ..TokenSpec::new("apps", "web")
        })
    };
    assert_denied(h.login("app", &unknown("no-such-kid-1")).await);
    assert_eq!(
        h.fake.jwks_fetches(),
        2,
        "an unknown kid refetches the JWKS once"
    );
    assert_denied(h.login("app", &unknown("no-such-kid-2")).await);
    assert_eq!(h.fake.jwks_fetches(), 2, "not again within the rate window");

    // A real rotation: the new kid is unknown until the window has passed, then fetched.
    h.fake.rotate_signing_key();
    assert_denied(h.login("app", &h.web_token()).await);
    assert_eq!(h.fake.jwks_fetches(), 2);
    h.clock.advance(MIN_REFETCH_INTERVAL);
    h.login("app", &h.web_token()).await.unwrap();
    assert_eq!(h.fake.jwks_fetches(), 3);
}

#[tokio::test]
async fn legacy_tokens_without_exp_need_token_review() {
    let h = Harness::local().await;
    let spec = TokenSpec {
        legacy: true,
        ..TokenSpec::new("apps", "web")
    };
    assert_denied(h.login("app", &h.fake.mint(&spec)).await);
}

/// The documented trade-off of local mode: it cannot see that a pod is gone.
#[tokio::test]
async fn deleted_pods_are_invisible_to_local_mode() {
    let h = Harness::local().await;
    let spec = TokenSpec::new("apps", "web");
    let token = h.fake.mint(&spec);
    h.fake.delete_pod("apps", &spec.pod.unwrap().0);
    h.login("app", &token).await.unwrap();
}

#[tokio::test]
async fn unreachable_jwks_is_an_upstream_error() {
    let h = Harness::local().await;
    h.fake.set_down(true);
    assert_upstream(h.login("app", &h.web_token()).await);
    h.fake.set_down(false);
    // The failed attempt counts against the rate bound too: still no keys, still a 5xx.
    assert_upstream(h.login("app", &h.web_token()).await);
    assert_eq!(h.fake.jwks_fetches(), 0);
    h.clock.advance(MIN_REFETCH_INTERVAL);
    h.login("app", &h.web_token()).await.unwrap();
}
