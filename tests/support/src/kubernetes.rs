//! A Kubernetes API-server stand-in for tests: a real HTTPS server (throwaway CA, rustls on
//! aws-lc-rs) answering `POST /apis/authentication.k8s.io/v1/tokenreviews`,
//! `GET /openid/v1/jwks` and `GET /.well-known/openid-configuration` the way kube-apiserver
//! does, so production code reaches it through the same `kube` client and HTTP code it uses in
//! a cluster. It also mints service-account JWTs shaped like kubelet's projected tokens and
//! legacy secret tokens, plus the classic forgeries (`alg: none`, HS256 keyed with the public
//! key, a foreign key under the real `kid`), and lets tests delete objects, rotate the signing
//! key and take the server down.
//!
//! Fidelity notes, all deliberate: a rejected TokenReview omits `status.authenticated` (the API
//! server's `omitempty`); exp/nbf/iat are checked with the API server's one-minute leeway, so
//! "expired" tests should use `expires_in` well below -60; only `kube-system/lessor-reviewer`
//! (see [`FakeKubernetes::allow_token_review`]) may create TokenReviews, others get 403.

mod authn;
mod claims;
mod keys;
mod objects;
mod server;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lessor_sdk::{Clock, SystemClock};
use rand::Rng;
use tokio::task::JoinHandle;

use claims::{BoundClaims, KubernetesClaim, LEGACY_ISSUER, LegacyClaims, ObjectRef, username};
use keys::SigningKey;
use objects::Objects;

/// The issuer (and default API audience) of a stock cluster.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The service account whose token [`FakeKubernetes::reviewer_token`] returns.
pub const REVIEWER_NAMESPACE: &str = "kube-system";
pub const REVIEWER_NAME: &str = "lessor-reviewer";
/// The node every pod-bound token names.
const NODE_NAME: &str = "lessor-test-node";

/// What to put in a minted service-account token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub namespace: String,
    pub service_account: String,
    /// Minting (re)creates the account with this uid; a token naming an older uid stops
    /// validating, as after a delete-and-recreate.
    pub service_account_uid: String,
    /// `(name, uid)` of the pod the token is bound to; minting (re)creates the pod.
    pub pod: Option<(String, String)>,
    pub audiences: Vec<String>,
    /// Seconds from now to `exp`; may be negative.
    pub expires_in: i64,
    /// Seconds from now to `nbf`; `> 0` makes a not-yet-valid token.
    pub not_before_in: i64,
    /// Replaces the `iss` claim (the server's issuer, or `kubernetes/serviceaccount` if legacy).
    pub issuer: Option<String>,
    /// Replaces the `kid` header (the current signing key's id).
    pub kid: Option<String>,
    /// A legacy secret-based token instead of a bound one (no aud/exp/pod).
    pub legacy: bool,
}

impl TokenSpec {
    /// A projected token as kubelet would mount it: bound to a fresh pod, audience = the API
    /// server's, valid for an hour. The account's uid is derived from its namespace and name,
    /// so every token minted for the same account agrees on it.
    pub fn new(namespace: &str, service_account: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
            service_account_uid: stable_uid(&format!(
                "serviceaccount/{namespace}/{service_account}"
            )),
            pod: Some((
                format!("{service_account}-{}", pod_suffix()),
                uuid::Uuid::new_v4().to_string(),
            )),
            audiences: vec![ISSUER.to_owned()],
            expires_in: 3600,
            not_before_in: 0,
            issuer: None,
            kid: None,
            legacy: false,
        }
    }
}

/// The running stand-in; the server stops when this drops.
#[derive(Debug)]
pub struct FakeKubernetes {
    state: Arc<State>,
    url: String,
    ca_pem: String,
    reviewer_token: String,
    task: JoinHandle<()>,
}

impl Drop for FakeKubernetes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeKubernetes {
    /// Starts on a free loopback port with the wall clock.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_clock(Arc::new(SystemClock)).await
    }

    /// Starts with `clock` for minting and validation, so tests can move time.
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let tls = server::tls()?;
        let (listener, addr) = server::bind().await?;
        let url = format!("https://{addr}");
        let keys = KeyRing {
            current: SigningKey::generate()?,
            retired: Vec::new(),
            foreign: SigningKey::generate()?,
        };
        let state = Arc::new(State {
            issuer: ISSUER.to_owned(),
            jwks_url: format!("{url}/openid/v1/jwks"),
            clock,
            node_uid: uuid::Uuid::new_v4().to_string(),
            keys: Mutex::new(keys),
            objects: Mutex::new(Objects::default()),
            reviewers: Mutex::new(BTreeSet::from([username(
                REVIEWER_NAMESPACE,
                REVIEWER_NAME,
            )])),
            token_reviews: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        // A TokenRequest token for the reviewer account, not bound to any pod.
        let reviewer = TokenSpec {
            pod: None,
            ..TokenSpec::new(REVIEWER_NAMESPACE, REVIEWER_NAME)
        };
        let reviewer_token = state.mint(&reviewer, Forgery::None)?;
        let task = tokio::spawn(server::serve(listener, tls.acceptor, Arc::clone(&state)));
        Ok(Self {
            state,
            url,
            ca_pem: tls.ca_pem,
            reviewer_token,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The CA that signed the server certificate (SANs: 127.0.0.1, localhost, kubernetes.*).
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// Where the JWKS is actually served (discovery's `jwks_uri`).
    pub fn jwks_url(&self) -> String {
        self.state.jwks_url.clone()
    }

    /// The current signing key's public half, PEM SubjectPublicKeyInfo.
    pub fn public_key_pem(&self) -> String {
        self.state.keys().current.public_pem().to_owned()
    }

    /// The current signing key's `kid`.
    pub fn kid(&self) -> String {
        self.state.keys().current.kid().to_owned()
    }

    /// A valid token for `kube-system/lessor-reviewer`, allowed to create TokenReviews; 1h.
    pub fn reviewer_token(&self) -> String {
        self.reviewer_token.clone()
    }

    /// A properly signed token for `spec`, creating the account and pod it names.
    pub fn mint(&self, spec: &TokenSpec) -> String {
        self.mint_as(spec, Forgery::None)
    }

    /// `spec`'s claims with `alg: none` and an empty signature.
    pub fn mint_unsigned(&self, spec: &TokenSpec) -> String {
        self.mint_as(spec, Forgery::Unsigned)
    }

    /// `spec`'s claims signed HS256 with the public key's PEM text as the HMAC secret.
    pub fn mint_hs256_with_public_key(&self, spec: &TokenSpec) -> String {
        self.mint_as(spec, Forgery::Hs256WithPublicKey)
    }

    /// `spec`'s claims signed RS256 by a key the server does not hold, under the real `kid`.
    pub fn mint_with_foreign_key(&self, spec: &TokenSpec) -> String {
        self.mint_as(spec, Forgery::ForeignKey)
    }

    pub fn delete_service_account(&self, namespace: &str, name: &str) {
        self.state.objects().delete_service_account(namespace, name);
    }

    pub fn delete_pod(&self, namespace: &str, name: &str) {
        self.state.objects().delete_pod(namespace, name);
    }

    /// Deletes a legacy token secret (its name is the token's `…/secret.name` claim).
    pub fn delete_secret(&self, namespace: &str, name: &str) {
        self.state.objects().delete_secret(namespace, name);
    }

    /// Grants `system:auth-delegator` to another account, e.g. to use a client's own JWT as
    /// the TokenReview bearer.
    pub fn allow_token_review(&self, namespace: &str, name: &str) {
        self.state
            .reviewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(username(namespace, name));
    }

    /// A new signing key (and `kid`) for tokens minted from now on. The old key stays in the
    /// JWKS and keeps verifying, as when the API server lists it in `--service-account-key-file`.
    pub fn rotate_signing_key(&self) {
        match SigningKey::generate() {
            Ok(key) => {
                let mut keys = self.state.keys();
                let old = std::mem::replace(&mut keys.current, key);
                keys.retired.push(old);
            }
            Err(err) => fixture_failure("rotating the signing key", &err),
        }
    }

    /// TokenReview requests received (every POST to the endpoint, whatever the outcome).
    pub fn token_reviews(&self) -> usize {
        self.state.token_reviews.load(Ordering::SeqCst)
    }

    /// JWKS documents served.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// While down, every request gets 503 with a `Status` body.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    fn mint_as(&self, spec: &TokenSpec, forgery: Forgery) -> String {
        match self.state.mint(spec, forgery) {
            Ok(token) => token,
            Err(err) => fixture_failure("minting a token", &err),
        }
    }
}

/// The fixture's API returns plain values; a failure here (RSA signing, JSON encoding) means the
/// test environment itself is broken, and stopping the test with the cause is the useful answer.
#[allow(clippy::panic)]
fn fixture_failure(what: &str, err: &anyhow::Error) -> ! {
    panic!("Kubernetes stand-in: {what} failed: {err:#}")
}

/// How to sign a minted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forgery {
    None,
    Unsigned,
    Hs256WithPublicKey,
    ForeignKey,
}

/// Everything the HTTP handlers and the test-facing API share.
#[derive(Debug)]
struct State {
    issuer: String,
    jwks_url: String,
    clock: Arc<dyn Clock>,
    node_uid: String,
    keys: Mutex<KeyRing>,
    objects: Mutex<Objects>,
    /// Usernames RBAC lets create TokenReviews.
    reviewers: Mutex<BTreeSet<String>>,
    token_reviews: AtomicUsize,
    jwks_fetches: AtomicUsize,
    down: AtomicBool,
}

#[derive(Debug)]
struct KeyRing {
    current: SigningKey,
    retired: Vec<SigningKey>,
    /// Never verifies and never appears in the JWKS.
    foreign: SigningKey,
}

impl KeyRing {
    /// The keys the server verifies with and publishes, current first.
    fn verifying(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.current).chain(self.retired.iter().rev())
    }
}

impl State {
    fn keys(&self) -> MutexGuard<'_, KeyRing> {
        // A panicking test thread must not wedge the server for the others.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn may_review(&self, username: &str) -> bool {
        self.reviewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(username)
    }

    /// `--api-audiences`, defaulting (as in a stock cluster) to the issuer.
    fn api_audiences(&self) -> Vec<String> {
        vec![self.issuer.clone()]
    }

    fn mint(&self, spec: &TokenSpec, forgery: Forgery) -> anyhow::Result<String> {
        let keys = self.keys();
        let kid = spec
            .kid
            .clone()
            .unwrap_or_else(|| keys.current.kid().to_owned());
        let mut objects = self.objects();
        objects.put_service_account(
            &spec.namespace,
            &spec.service_account,
            &spec.service_account_uid,
        );

        if spec.legacy {
            let secret = format!("{}-token-{}", spec.service_account, pod_suffix());
            let claims = LegacyClaims {
                iss: spec
                    .issuer
                    .clone()
                    .unwrap_or_else(|| LEGACY_ISSUER.to_owned()),
                namespace: spec.namespace.clone(),
                secret_name: secret.clone(),
                service_account_name: spec.service_account.clone(),
                service_account_uid: spec.service_account_uid.clone(),
                sub: username(&spec.namespace, &spec.service_account),
            };
            let token = sign(&keys, &kid, &claims, forgery)?;
            objects.put_secret(&spec.namespace, &secret, &spec.service_account, &token);
            return Ok(token);
        }

        if let Some((pod, uid)) = &spec.pod {
            objects.put_pod(&spec.namespace, pod, uid);
        }
        let now = self.clock.now().unix_timestamp();
        let claims = BoundClaims {
            aud: spec.audiences.clone(),
            exp: now + spec.expires_in,
            iat: now,
            iss: spec.issuer.clone().unwrap_or_else(|| self.issuer.clone()),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaim {
                namespace: spec.namespace.clone(),
                // Since 1.30 pod-bound tokens also name the pod's node.
                node: spec.pod.as_ref().map(|_| ObjectRef {
                    name: NODE_NAME.to_owned(),
                    uid: self.node_uid.clone(),
                }),
                pod: spec.pod.as_ref().map(|(name, uid)| ObjectRef {
                    name: name.clone(),
                    uid: uid.clone(),
                }),
                serviceaccount: ObjectRef {
                    name: spec.service_account.clone(),
                    uid: spec.service_account_uid.clone(),
                },
                warnafter: None,
            },
            nbf: now + spec.not_before_in,
            sub: username(&spec.namespace, &spec.service_account),
        };
        sign(&keys, &kid, &claims, forgery)
    }
}

fn sign(
    keys: &KeyRing,
    kid: &str,
    claims: &impl serde::Serialize,
    forgery: Forgery,
) -> anyhow::Result<String> {
    match forgery {
        Forgery::None => keys.current.sign(kid, claims),
        Forgery::Unsigned => keys::unsigned(kid, claims),
        Forgery::Hs256WithPublicKey => keys.current.sign_hs256_with_public_pem(claims),
        Forgery::ForeignKey => keys.foreign.sign(kid, claims),
    }
}

/// Five lowercase alphanumerics, like the suffixes the API server's name generator appends.
fn pod_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A UUID-formatted uid derived from `seed`, so the same object gets the same uid every time.
fn stable_uid(seed: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
