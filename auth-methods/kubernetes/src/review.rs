//! token_review mode: asks the API server whether a token is valid, with a real
//! `authentication.k8s.io/v1` TokenReview sent through `kube::Client`.
//!
//! The API server's verdict is the whole point of this mode: it knows about deleted pods,
//! deleted service accounts and revoked secrets, which no local signature check can see.
//! Any failure to get a verdict (unreachable, TLS, 401/403 for our reviewer token, 5xx) is
//! an [`KubeAuthError::Upstream`] error: a login never passes without a positive verdict.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::KubeAuthError;
use crate::reviewer_token::TokenFile;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const POD_NAME_EXTRA: &str = "authentication.kubernetes.io/pod-name";
const POD_UID_EXTRA: &str = "authentication.kubernetes.io/pod-uid";

/// How the API server's certificate is trusted.
#[derive(Debug)]
pub(crate) enum CaSource {
    /// `kubernetes_ca_cert`, as DER certificates.
    Pem(Vec<Vec<u8>>),
    /// The pod's mounted CA bundle, which kube re-reads when it rotates.
    File(PathBuf),
    /// The platform's trust store.
    System,
}

/// Where the reviewer's bearer token comes from.
pub(crate) enum BearerSource {
    /// `token_reviewer_jwt` from the config.
    Static(Zeroizing<String>),
    /// The pod's own service-account token, re-read as it rotates.
    File(TokenFile),
    /// No reviewer token at all: the login's JWT reviews itself (Vault's fallback; the
    /// workload's service account then needs permission to create TokenReviews).
    LoginJwt,
}

impl std::fmt::Debug for BearerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BearerSource::Static(_) => f.write_str("Static(<redacted>)"),
            BearerSource::File(file) => f.debug_tuple("File").field(&file.path()).finish(),
            BearerSource::LoginJwt => f.write_str("LoginJwt"),
        }
    }
}

/// What the API server vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reviewed {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub pod: Option<(String, String)>,
}

pub(crate) struct Reviewer {
    host: String,
    ca: CaSource,
    bearer: BearerSource,
    /// The client for the current bearer token; rebuilt when the token rotates.
    client: Mutex<Option<(Zeroizing<String>, kube::Client)>>,
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviewer")
            .field("host", &self.host)
            .field("ca", &self.ca)
            .field("bearer", &self.bearer)
            .finish_non_exhaustive()
    }
}

impl Reviewer {
    pub(crate) fn new(host: String, ca: CaSource, bearer: BearerSource) -> Self {
        Self {
            host,
            ca,
            bearer,
            client: Mutex::new(None),
        }
    }

    /// Sends one TokenReview for `jwt`, restricted to `audience` when the role sets one.
    pub(crate) async fn review(
        &self,
        jwt: &str,
        audience: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Reviewed, KubeAuthError> {
        let client = match &self.bearer {
            BearerSource::Static(token) => self.client_for(token)?,
            BearerSource::File(file) => self.client_for(&file.current(now).await?)?,
            BearerSource::LoginJwt => self.build_client(jwt)?,
        };
        let request = TokenReview {
            spec: TokenReviewSpec {
                token: jwt.to_string(),
                audiences: audience.map(|audience| vec![audience.to_string()]),
            },
            ..TokenReview::default()
        };
        let response = Api::<TokenReview>::all(client)
            .create(&PostParams::default(), &request)
            .await
            .map_err(|error| self.upstream(&error))?;
        let status = response
            .status
            .ok_or_else(|| KubeAuthError::upstream("the TokenReview came back without a status"))?;
        if status.authenticated != Some(true) {
            return Err(KubeAuthError::denied(format!(
                "the API server did not authenticate the token: {}",
                status.error.as_deref().unwrap_or("no reason given")
            )));
        }
        if let Some(audience) = audience {
            let granted = status.audiences.unwrap_or_default();
            if !granted.iter().any(|granted| granted == audience) {
                return Err(KubeAuthError::denied(format!(
                    "the API server authenticated the token for audiences {granted:?}, not \
                     {audience:?}"
                )));
            }
        }
        let user = status.user.unwrap_or_default();
        let username = user.username.unwrap_or_default();
        let Some((namespace, name)) = parse_service_account(&username) else {
            return Err(KubeAuthError::denied(format!(
                "the token belongs to {username:?}, not to a service account"
            )));
        };
        let extra = user.extra.unwrap_or_default();
        let first = |key: &str| {
            extra
                .get(key)
                .and_then(|values| values.first())
                .filter(|value| !value.is_empty())
                .cloned()
        };
        let pod =
            first(POD_NAME_EXTRA).map(|name| (name, first(POD_UID_EXTRA).unwrap_or_default()));
        Ok(Reviewed {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: user.uid.unwrap_or_default(),
            pod,
        })
    }

    fn client_for(&self, bearer: &Zeroizing<String>) -> Result<kube::Client, KubeAuthError> {
        let mut cached = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, client)) = cached.as_ref()
            && token == bearer
        {
            return Ok(client.clone());
        }
        let client = self.build_client(bearer)?;
        *cached = Some((bearer.clone(), client.clone()));
        Ok(client)
    }

    fn build_client(&self, bearer: &str) -> Result<kube::Client, KubeAuthError> {
        let url = self.host.parse().map_err(|_| {
            KubeAuthError::invalid(format!(
                "kubernetes_host {:?} is not a valid URL",
                self.host
            ))
        })?;
        let mut config = kube::Config::new(url);
        match &self.ca {
            CaSource::Pem(certs) => config.root_cert = Some(certs.clone()),
            CaSource::File(path) => {
                let pem = std::fs::read_to_string(path).map_err(|error| {
                    KubeAuthError::upstream(format!(
                        "cannot read the in-cluster CA {}: {error}",
                        path.display()
                    ))
                })?;
                let certs = crate::keys::parse_certificates(&pem).map_err(|error| {
                    KubeAuthError::upstream(format!("in-cluster CA {}: {error}", path.display()))
                })?;
                config.root_cert = Some(certs);
                config.root_cert_file = Some(path.clone());
            }
            CaSource::System => {}
        }
        config.auth_info.token = Some(secrecy::SecretString::from(bearer.to_string()));
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        config.reset_reader_on_write = true;
        // A login fails fast and the client retries; kube's own retries would multiply
        // load on an API server that is already struggling.
        config.default_retry = false;
        kube::Client::try_from(config).map_err(|error| {
            KubeAuthError::upstream(format!("cannot build the Kubernetes client: {error}"))
        })
    }

    fn upstream(&self, error: &kube::Error) -> KubeAuthError {
        match error {
            kube::Error::Api(status) if matches!(status.code, 401 | 403) => {
                KubeAuthError::upstream(format!(
                    "the API server at {} refused the TokenReview ({}): check the reviewer \
                     token and its RBAC (system:auth-delegator)",
                    self.host, status.code
                ))
            }
            kube::Error::Api(status) => KubeAuthError::upstream(format!(
                "the API server at {} failed the TokenReview ({}): {}",
                self.host, status.code, status.message
            )),
            other => KubeAuthError::upstream(format!(
                "the API server at {} is unreachable: {other}",
                self.host
            )),
        }
    }
}

/// `system:serviceaccount:<namespace>:<name>` → `(namespace, name)`.
fn parse_service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_usernames() {
        assert_eq!(
            parse_service_account("system:serviceaccount:apps:web"),
            Some(("apps", "web"))
        );
        assert_eq!(parse_service_account("system:serviceaccount:apps"), None);
        assert_eq!(parse_service_account("system:serviceaccount::web"), None);
        assert_eq!(parse_service_account("system:serviceaccount:a:b:c"), None);
        assert_eq!(parse_service_account("kubernetes-admin"), None);
    }
}
