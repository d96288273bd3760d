//! The driver's client of the Lessor broker, over its Vault-dialect HTTP API: Kubernetes
//! login, reading secrets, renewing and revoking leases and the driver's per-volume token.
//!
//! Only what the broker accepts goes on the wire (`{role, jwt}` for login; pod facts stay in
//! the driver's own state and logs). Tokens travel as [`SecretString`] in the
//! `X-Vault-Token` header, never in a URL, and no error built here quotes a request or
//! response body other than the broker's own `errors` list.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unreachable: {0}")]
    Transport(String),
    #[error("broker answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("broker answer is malformed: {0}")]
    Malformed(&'static str),
}

impl BrokerError {
    /// 4xx other than 429: retrying the same request will not help.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Status { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

/// A broker token the driver holds for one volume.
pub struct Login {
    pub token: SecretString,
    pub accessor: String,
    pub lease_duration: u64,
    pub renewable: bool,
    pub metadata: serde_json::Map<String, Value>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("lease_duration", &self.lease_duration)
            .finish()
    }
}

/// A read secret. `data` holds secret values: callers write it to files and drop it.
pub struct Secret {
    pub lease_id: String,
    pub lease_duration: u64,
    pub renewable: bool,
    pub data: Value,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Renewal {
    pub lease_duration: u64,
    pub renewable: bool,
}

#[derive(Debug, Clone)]
pub struct BrokerClient {
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    lease_id: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Deserialize)]
struct Auth {
    client_token: String,
    #[serde(default)]
    accessor: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

impl BrokerClient {
    /// `ca_pem` adds a trust anchor for the broker's TLS certificate.
    pub fn new(ca_pem: Option<&[u8]>) -> Result<Self, BrokerError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("lessor-csi/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|_| {
                BrokerError::Transport("the broker CA file holds no PEM certificate".into())
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|error| BrokerError::Transport(error.to_string()))?;
        Ok(Self { http })
    }

    fn url(address: &str, path: &str) -> String {
        format!(
            "{}/v1/{}",
            address.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<Envelope>, BrokerError> {
        let response = request
            .send()
            .await
            // Without the URL: it holds no secret, but the error's Debug may grow one.
            .map_err(|error| BrokerError::Transport(error.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| BrokerError::Transport(error.without_url().to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Errors>(&bytes)
                .map(|errors| errors.errors.join("; "))
                .unwrap_or_default();
            return Err(BrokerError::Status {
                status: status.as_u16(),
                message,
            });
        }
        if bytes.is_empty() || status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| BrokerError::Malformed("not a Vault response envelope"))
    }

    fn with_token(
        request: reqwest::RequestBuilder,
        token: &SecretString,
    ) -> reqwest::RequestBuilder {
        request.header("X-Vault-Token", token.expose_secret())
    }

    /// `auth/<mount>/login` with the pod's service-account JWT.
    pub async fn login(
        &self,
        address: &str,
        mount: &str,
        role: &str,
        jwt: &SecretString,
    ) -> Result<Login, BrokerError> {
        let body = json!({ "role": role, "jwt": jwt.expose_secret() });
        let request = self
            .http
            .post(Self::url(address, &format!("auth/{mount}/login")))
            .json(&body);
        let auth = self
            .send(request)
            .await?
            .and_then(|envelope| envelope.auth)
            .ok_or(BrokerError::Malformed(
                "login answered without an auth block",
            ))?;
        Ok(Login {
            token: SecretString::from(auth.client_token),
            accessor: auth.accessor,
            lease_duration: auth.lease_duration,
            renewable: auth.renewable,
            metadata: auth.metadata.unwrap_or_default(),
        })
    }

    /// Reads `path` (a GET, which is how `creds/` endpoints issue).
    pub async fn read(
        &self,
        address: &str,
        token: &SecretString,
        path: &str,
    ) -> Result<Secret, BrokerError> {
        let request = Self::with_token(self.http.get(Self::url(address, path)), token);
        let envelope = self
            .send(request)
            .await?
            .ok_or(BrokerError::Malformed("read answered with no body"))?;
        Ok(Secret {
            lease_id: envelope.lease_id,
            lease_duration: envelope.lease_duration,
            renewable: envelope.renewable,
            data: envelope
                .data
                .ok_or(BrokerError::Malformed("read answered without data"))?,
        })
    }

    /// `sys/leases/renew`, asking for `increment` seconds.
    pub async fn renew_lease(
        &self,
        address: &str,
        token: &SecretString,
        lease_id: &str,
        increment: u64,
    ) -> Result<Renewal, BrokerError> {
        let request = Self::with_token(
            self.http
                .put(Self::url(address, "sys/leases/renew"))
                .json(&json!({ "lease_id": lease_id, "increment": increment })),
            token,
        );
        let envelope = self
            .send(request)
            .await?
            .ok_or(BrokerError::Malformed("renew answered with no body"))?;
        Ok(Renewal {
            lease_duration: envelope.lease_duration,
            renewable: envelope.renewable,
        })
    }

    /// `auth/token/renew-self`.
    pub async fn renew_token(
        &self,
        address: &str,
        token: &SecretString,
    ) -> Result<Renewal, BrokerError> {
        let request = Self::with_token(
            self.http
                .put(Self::url(address, "auth/token/renew-self"))
                .json(&json!({})),
            token,
        );
        let auth = self
            .send(request)
            .await?
            .and_then(|envelope| envelope.auth)
            .ok_or(BrokerError::Malformed(
                "renew-self answered without an auth block",
            ))?;
        Ok(Renewal {
            lease_duration: auth.lease_duration,
            renewable: auth.renewable,
        })
    }

    /// `sys/leases/revoke`. A lease that is already gone counts as revoked.
    pub async fn revoke_lease(
        &self,
        address: &str,
        token: &SecretString,
        lease_id: &str,
    ) -> Result<(), BrokerError> {
        let request = Self::with_token(
            self.http
                .put(Self::url(address, "sys/leases/revoke"))
                .json(&json!({ "lease_id": lease_id })),
            token,
        );
        self.send(request).await.map(drop)
    }

    /// `auth/token/revoke-self`: the token and every lease it obtained. A token that is
    /// already gone (403) counts as revoked.
    pub async fn revoke_token(
        &self,
        address: &str,
        token: &SecretString,
    ) -> Result<(), BrokerError> {
        let request = Self::with_token(
            self.http
                .put(Self::url(address, "auth/token/revoke-self"))
                .json(&json!({})),
            token,
        );
        match self.send(request).await {
            Ok(_) => Ok(()),
            Err(BrokerError::Status { status: 403, .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
