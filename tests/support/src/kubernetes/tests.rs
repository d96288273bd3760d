//! The stand-in against real clients: `reqwest` and `kube` over real TLS, `jsonwebtoken`
//! verifying against the served JWKS.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lessor_sdk::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

const REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

fn client(k8s: &FakeKubernetes) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(k8s.ca_pem().as_bytes()).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

async fn review_as(
    k8s: &FakeKubernetes,
    bearer: Option<&str>,
    token: &str,
    audiences: &[&str],
) -> (StatusCode, Value) {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": { "token": token, "audiences": audiences },
    });
    let mut request = client(k8s)
        .post(format!("{}{REVIEW_PATH}", k8s.url()))
        .json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn review(k8s: &FakeKubernetes, token: &str, audiences: &[&str]) -> Value {
    let (status, body) = review_as(k8s, Some(&k8s.reviewer_token()), token, audiences).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "TokenReview");
    assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
    body["status"].clone()
}

/// A rejection as the API server writes it: no `authenticated`, an empty user, an error.
fn assert_rejected(status: &Value, reason: &str) {
    assert_eq!(status.get("authenticated"), None, "{status}");
    assert_eq!(status["user"], json!({}), "{status}");
    let error = status["error"].as_str().unwrap();
    assert!(error.contains(reason), "{error:?} lacks {reason:?}");
}

fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn good_token_reviews_like_the_api_server() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let spec = TokenSpec {
        audiences: vec!["lessor".into(), "other".into()],
        ..TokenSpec::new("apps", "web")
    };
    let token = k8s.mint(&spec);
    let status = review(&k8s, &token, &["lessor"]).await;

    let (pod, pod_uid) = spec.pod.clone().unwrap();
    let jti = segment(&token, 1)["jti"].as_str().unwrap().to_owned();
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["audiences"], json!(["lessor"]));
    let user = &status["user"];
    assert_eq!(user["username"], "system:serviceaccount:apps:web");
    assert_eq!(user["uid"], spec.service_account_uid);
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:apps",
            "system:authenticated"
        ])
    );
    let extra = &user["extra"];
    assert_eq!(extra["authentication.kubernetes.io/pod-name"], json!([pod]));
    assert_eq!(
        extra["authentication.kubernetes.io/pod-uid"],
        json!([pod_uid])
    );
    assert_eq!(
        extra["authentication.kubernetes.io/credential-id"],
        json!([format!("JTI={jti}")])
    );
    assert_eq!(
        extra["authentication.kubernetes.io/node-name"],
        json!([NODE_NAME])
    );
    assert_eq!(k8s.token_reviews(), 1);
}

#[tokio::test]
async fn bound_token_has_kubelets_shape() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let spec = TokenSpec::new("apps", "web");
    let token = k8s.mint(&spec);
    let header = segment(&token, 0);
    assert_eq!(header, json!({ "alg": "RS256", "kid": k8s.kid() }));
    let claims = segment(&token, 1);
    assert_eq!(claims["aud"], json!([ISSUER]));
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "system:serviceaccount:apps:web");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    let k = &claims["kubernetes.io"];
    assert_eq!(k["namespace"], "apps");
    assert_eq!(
        k["serviceaccount"],
        json!({"name": "web", "uid": spec.service_account_uid})
    );
    let (pod, pod_uid) = spec.pod.unwrap();
    assert_eq!(k["pod"], json!({"name": pod, "uid": pod_uid}));
    assert_eq!(k["node"]["name"], NODE_NAME);
    // Same account, same uid; a different account, a different one.
    assert_eq!(
        TokenSpec::new("apps", "web").service_account_uid,
        claims["kubernetes.io"]["serviceaccount"]["uid"]
    );
    assert_ne!(
        TokenSpec::new("apps", "api").service_account_uid,
        spec.service_account_uid
    );
}

#[tokio::test]
async fn deleted_objects_invalidate_tokens() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let spec = TokenSpec::new("apps", "web");
    let token = k8s.mint(&spec);
    let other = k8s.mint(&TokenSpec::new("apps", "web"));

    k8s.delete_pod("apps", &spec.pod.clone().unwrap().0);
    assert_rejected(&review(&k8s, &token, &[]).await, "pods \"web-");
    // Another pod of the same account is unaffected.
    assert_eq!(review(&k8s, &other, &[]).await["authenticated"], true);

    k8s.delete_service_account("apps", "web");
    assert_rejected(
        &review(&k8s, &other, &[]).await,
        "serviceaccounts \"web\" not found",
    );
}

#[tokio::test]
async fn recreated_service_account_invalidates_old_tokens() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let old = k8s.mint(&TokenSpec::new("apps", "web"));
    let recreated = TokenSpec {
        service_account_uid: uuid::Uuid::new_v4().to_string(),
        ..TokenSpec::new("apps", "web")
    };
    let new = k8s.mint(&recreated);
    assert_rejected(&review(&k8s, &old, &[]).await, "does not match claim");
    assert_eq!(review(&k8s, &new, &[]).await["authenticated"], true);
}

#[tokio::test]
async fn expiry_and_not_before_follow_the_api_servers_leeway() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let expired = k8s.mint(&TokenSpec {
        expires_in: -3600,
        ..TokenSpec::new("apps", "web")
    });
    assert_rejected(
        &review(&k8s, &expired, &[]).await,
        "service account token has expired",
    );
    let early = k8s.mint(&TokenSpec {
        not_before_in: 3600,
        ..TokenSpec::new("apps", "web")
    });
    assert_rejected(&review(&k8s, &early, &[]).await, "not valid yet");
    // Within go-jose's one-minute leeway the API server still accepts.
    let just_expired = k8s.mint(&TokenSpec {
        expires_in: -30,
        ..TokenSpec::new("apps", "web")
    });
    assert_eq!(
        review(&k8s, &just_expired, &[]).await["authenticated"],
        true
    );
}

#[tokio::test]
async fn injected_clock_drives_minting_and_expiry() {
    let clock = Arc::new(ManualClock::new(
        time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
    ));
    let k8s = FakeKubernetes::start_with_clock(clock.clone())
        .await
        .unwrap();
    let token = k8s.mint(&TokenSpec::new("apps", "web"));
    assert_eq!(segment(&token, 1)["iat"], 1_700_000_000);
    assert_eq!(review(&k8s, &token, &[]).await["authenticated"], true);
    clock.advance(Duration::from_secs(3600 + 61));
    // The reviewer's own token has expired too: the API server now refuses the caller.
    let (status, _) = review_as(&k8s, Some(&k8s.reviewer_token()), &token, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn audiences_are_intersected() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let token = k8s.mint(&TokenSpec {
        audiences: vec!["vault".into()],
        ..TokenSpec::new("apps", "web")
    });
    assert_rejected(
        &review(&k8s, &token, &["lessor"]).await,
        r#"token audiences ["vault"] is invalid for the target audiences ["lessor"]"#,
    );
    // No requested audiences means the API server's own, which this token lacks.
    assert_rejected(
        &review(&k8s, &token, &[]).await,
        "is invalid for the target audiences",
    );
    let status = review(&k8s, &token, &["lessor", "vault"]).await;
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["audiences"], json!(["vault"]));

    let default = k8s.mint(&TokenSpec::new("apps", "web"));
    assert_eq!(
        review(&k8s, &default, &[]).await["audiences"],
        json!([ISSUER])
    );
}

#[tokio::test]
async fn forgeries_are_rejected() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let spec = TokenSpec::new("apps", "web");
    let forgeries = [
        ("alg none", k8s.mint_unsigned(&spec)),
        (
            "hs256 with the public key",
            k8s.mint_hs256_with_public_key(&spec),
        ),
        ("foreign key", k8s.mint_with_foreign_key(&spec)),
        (
            "other issuer",
            k8s.mint(&TokenSpec {
                issuer: Some("https://evil".into()),
                ..spec.clone()
            }),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in &forgeries {
        let status = review(&k8s, token, &[]).await;
        assert_eq!(status.get("authenticated"), None, "{what}: {status}");
        assert_eq!(status["error"], "invalid bearer token", "{what}");
    }
    assert_eq!(segment(&forgeries[0].1, 0)["alg"], "none");
    assert!(forgeries[0].1.ends_with('.'));
    assert_eq!(segment(&forgeries[1].1, 0)["alg"], "HS256");
    assert_eq!(segment(&forgeries[2].1, 0)["kid"], k8s.kid());
    // The genuine token for the same spec passes, so the rejections are about the forgery.
    assert_eq!(
        review(&k8s, &k8s.mint(&spec), &[]).await["authenticated"],
        true
    );
}

#[tokio::test]
async fn the_reviewer_must_authenticate_and_be_authorized() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let token = k8s.mint(&TokenSpec::new("apps", "web"));
    let foreign_reviewer = k8s.mint_with_foreign_key(&TokenSpec {
        pod: None,
        ..TokenSpec::new(REVIEWER_NAMESPACE, REVIEWER_NAME)
    });
    for bearer in [None, Some("garbage"), Some(foreign_reviewer.as_str())] {
        let (status, body) = review_as(&k8s, bearer, &token, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
    }
    // Authenticated but without system:auth-delegator: forbidden, until granted.
    let (status, body) = review_as(&k8s, Some(&token), &token, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["reason"], "Forbidden");
    k8s.allow_token_review("apps", "web");
    let (status, body) = review_as(&k8s, Some(&token), &token, &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"]["authenticated"], true);
}

#[tokio::test]
async fn bad_review_requests_are_rejected() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let (status, body) = review_as(&k8s, Some(&k8s.reviewer_token()), "", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "token is required for TokenReview in authentication"
    );
}

#[tokio::test]
async fn jwks_and_discovery_verify_minted_tokens() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let http = client(&k8s);
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", k8s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(discovery["jwks_uri"], k8s.jwks_url());
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(discovery["response_types_supported"], json!(["id_token"]));
    assert_eq!(discovery["subject_types_supported"], json!(["public"]));

    let response = http
        .get(k8s.jwks_url())
        .bearer_auth(k8s.reviewer_token())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let raw: Value = response.json().await.unwrap();
    assert_eq!(raw["keys"][0]["kid"], k8s.kid());
    assert_eq!(raw["keys"][0]["kty"], "RSA");
    assert_eq!(raw["keys"][0]["alg"], "RS256");
    assert_eq!(raw["keys"][0]["use"], "sig");
    assert_eq!(raw["keys"][0]["e"], "AQAB");
    assert_eq!(k8s.jwks_fetches(), 1);

    let set: JwkSet = serde_json::from_value(raw).unwrap();
    let jwk = set.find(&k8s.kid()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[ISSUER]);
    validation.set_issuer(&[ISSUER]);
    let token = k8s.mint(&TokenSpec::new("apps", "web"));
    let data =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap();
    assert_eq!(data.claims["sub"], "system:serviceaccount:apps:web");
    // The PEM is the same key.
    let pem_key = DecodingKey::from_rsa_pem(k8s.public_key_pem().as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(&token, &pem_key, &validation).unwrap();
    assert!(
        jsonwebtoken::decode::<Value>(
            &k8s.mint_with_foreign_key(&TokenSpec::new("apps", "web")),
            &pem_key,
            &validation
        )
        .is_err()
    );

    // A bad bearer is refused even on anonymous endpoints.
    let denied = http
        .get(k8s.jwks_url())
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(k8s.jwks_fetches(), 1);
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_publishes_both_keys() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let (old_kid, old_pem) = (k8s.kid(), k8s.public_key_pem());
    let old = k8s.mint(&TokenSpec::new("apps", "web"));
    k8s.rotate_signing_key();
    let new = k8s.mint(&TokenSpec::new("apps", "web"));
    assert_ne!(k8s.kid(), old_kid);
    assert_ne!(k8s.public_key_pem(), old_pem);
    assert_eq!(segment(&new, 0)["kid"], k8s.kid());

    let jwks: Value = client(&k8s)
        .get(k8s.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![k8s.kid().as_str(), old_kid.as_str()]);
    assert_eq!(review(&k8s, &old, &[]).await["authenticated"], true);
    assert_eq!(review(&k8s, &new, &[]).await["authenticated"], true);
}

#[tokio::test]
async fn legacy_tokens_have_the_secret_shape_and_api_audience() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let spec = TokenSpec {
        legacy: true,
        ..TokenSpec::new("apps", "web")
    };
    let token = k8s.mint(&spec);
    let claims = segment(&token, 1);
    let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec![
            "iss",
            "kubernetes.io/serviceaccount/namespace",
            "kubernetes.io/serviceaccount/secret.name",
            "kubernetes.io/serviceaccount/service-account.name",
            "kubernetes.io/serviceaccount/service-account.uid",
            "sub",
        ]
    );
    assert_eq!(claims["iss"], "kubernetes/serviceaccount");
    assert_eq!(
        claims["kubernetes.io/serviceaccount/service-account.uid"],
        spec.service_account_uid
    );
    let secret = claims["kubernetes.io/serviceaccount/secret.name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("web-token-"));

    let status = review(&k8s, &token, &[]).await;
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["audiences"], json!([ISSUER]));
    assert_eq!(status["user"]["username"], "system:serviceaccount:apps:web");
    assert_eq!(status["user"].get("extra"), None);
    assert_rejected(
        &review(&k8s, &token, &["lessor"]).await,
        "is invalid for the target audiences",
    );
    k8s.delete_secret("apps", &secret);
    assert_rejected(&review(&k8s, &token, &[]).await, "secrets \"web-token-");
}

#[tokio::test]
async fn outage_answers_503_everywhere() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let token = k8s.mint(&TokenSpec::new("apps", "web"));
    k8s.set_down(true);
    let (status, body) = review_as(&k8s, Some(&k8s.reviewer_token()), &token, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], 503);
    let jwks = client(&k8s).get(k8s.jwks_url()).send().await.unwrap();
    assert_eq!(jwks.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(k8s.jwks_fetches(), 0);
    k8s.set_down(false);
    assert_eq!(review(&k8s, &token, &[]).await["authenticated"], true);
    assert_eq!(k8s.token_reviews(), 2);
}

#[tokio::test]
async fn kube_client_creates_token_reviews() {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let k8s = FakeKubernetes::start().await.unwrap();
    let mut config = kube::Config::new(k8s.url().parse().unwrap());
    let ca = CertificateDer::from_pem_slice(k8s.ca_pem().as_bytes()).unwrap();
    config.root_cert = Some(vec![ca.to_vec()]);
    config.auth_info.token = Some(k8s.reviewer_token().into());
    let api: kube::Api<TokenReview> = kube::Api::all(kube::Client::try_from(config).unwrap());

    let token = k8s.mint(&TokenSpec::new("apps", "web"));
    let review = TokenReview {
        spec: TokenReviewSpec {
            token,
            audiences: Some(vec![ISSUER.to_owned()]),
        },
        ..Default::default()
    };
    let answer = api
        .create(&kube::api::PostParams::default(), &review)
        .await
        .unwrap();
    let status = answer.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(
        status.user.unwrap().username.as_deref(),
        Some("system:serviceaccount:apps:web")
    );

    // kube's default client retries 503s with backoff for minutes; production code (and this
    // test) must turn that off to see an outage promptly.
    k8s.set_down(true);
    let mut config = kube::Config::new(k8s.url().parse().unwrap());
    config.root_cert = Some(vec![ca.to_vec()]);
    config.auth_info.token = Some(k8s.reviewer_token().into());
    config.default_retry = false;
    let api: kube::Api<TokenReview> = kube::Api::all(kube::Client::try_from(config).unwrap());
    let before = k8s.token_reviews();
    let err = api
        .create(&kube::api::PostParams::default(), &review)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 503),
        "{err:?}"
    );
    assert_eq!(k8s.token_reviews(), before + 1);
}

#[tokio::test]
async fn dropping_stops_the_server() {
    let k8s = FakeKubernetes::start().await.unwrap();
    let (url, http) = (k8s.url(), client(&k8s));
    http.get(format!("{url}/openid/v1/jwks"))
        .send()
        .await
        .unwrap();
    drop(k8s);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        http.get(format!("{url}/openid/v1/jwks"))
            .send()
            .await
            .is_err()
    );
}
