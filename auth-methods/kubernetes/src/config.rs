//! `config`: where the API server is, how to trust it, which token reviews with, and which
//! validation mode logins use. Storage key: `config`.
//!
//! A write replaces the whole configuration (Vault's rule): fields left out take their
//! defaults. A read never returns `token_reviewer_jwt`, only whether one is set.

use lessor_sdk::{EngineContext, MountStorageExt, Request, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::error::KubeAuthError;
use crate::keys;
use crate::secret::SecretText;

pub(crate) const STORAGE_KEY: &str = "config";

/// How a login's JWT is judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ValidationMode {
    /// Ask the API server (TokenReview): sees deleted pods and service accounts.
    #[default]
    TokenReview,
    /// Verify the signature here against PEM keys or a JWKS: no round trip, but a token stays
    /// valid until it expires even if its pod is gone.
    Local,
}

/// The stored configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Config {
    pub kubernetes_host: String,
    pub kubernetes_ca_cert: String,
    pub token_reviewer_jwt: Option<SecretText>,
    pub pem_keys: Vec<String>,
    pub disable_local_ca_jwt: bool,
    pub issuer: String,
    pub disable_iss_validation: bool,
    pub jwks_url: String,
    pub jwks_ca_cert: String,
    pub validation: ValidationMode,
}

impl Config {
    /// The issuer a token must carry, when one is configured and checking is not disabled.
    pub(crate) fn expected_issuer(&self) -> Option<&str> {
        (!self.issuer.is_empty() && !self.disable_iss_validation).then_some(self.issuer.as_str())
    }
}

/// Every field Vault documents for `config`, plus Lessor's `jwks_url`, `jwks_ca_cert` and
/// `validation`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRequest {
    #[serde(default)]
    kubernetes_host: String,
    #[serde(default)]
    kubernetes_ca_cert: String,
    #[serde(default)]
    token_reviewer_jwt: Option<SecretText>,
    #[serde(default, deserialize_with = "pem_list")]
    pem_keys: Option<Vec<String>>,
    #[serde(default)]
    disable_local_ca_jwt: bool,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    disable_iss_validation: bool,
    #[serde(default)]
    use_annotations_as_alias_metadata: bool,
    #[serde(default)]
    jwks_url: String,
    #[serde(default)]
    jwks_ca_cert: String,
    #[serde(default)]
    validation: Option<ValidationMode>,
}

/// PEM blocks contain no commas, but a single key sent as a string must not be split on
/// anything; accept a string or a list.
fn pem_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Shape>::deserialize(deserializer)? {
        None => None,
        Some(Shape::One(text)) => Some(vec![text]),
        Some(Shape::Many(list)) => Some(list),
    }
    .map(|list| {
        list.into_iter()
            .filter(|pem| !pem.trim().is_empty())
            .collect()
    }))
}

pub(crate) async fn load(ctx: &EngineContext) -> Result<Option<Config>, KubeAuthError> {
    Ok(ctx.storage.get_json(STORAGE_KEY).await?)
}

pub(crate) async fn read(ctx: &EngineContext) -> Result<Response, KubeAuthError> {
    let config = load(ctx).await?.ok_or(KubeAuthError::NotFound)?;
    Response::from_serialize(&json!({
        "kubernetes_host": config.kubernetes_host,
        "kubernetes_ca_cert": config.kubernetes_ca_cert,
        "token_reviewer_jwt_set": config.token_reviewer_jwt.is_some(),
        "pem_keys": config.pem_keys,
        "disable_local_ca_jwt": config.disable_local_ca_jwt,
        "issuer": config.issuer,
        "disable_iss_validation": config.disable_iss_validation,
        "use_annotations_as_alias_metadata": false,
        "jwks_url": config.jwks_url,
        "jwks_ca_cert": config.jwks_ca_cert,
        "validation": config.validation,
    }))
    .map_err(|error| KubeAuthError::Internal(error.to_string()))
}

pub(crate) async fn write(
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, KubeAuthError> {
    let body: ConfigRequest = request
        .decode()
        .map_err(|error| KubeAuthError::invalid(error.to_string()))?;
    if body.use_annotations_as_alias_metadata {
        return Err(KubeAuthError::invalid(
            "use_annotations_as_alias_metadata is not supported",
        ));
    }
    let config = Config {
        kubernetes_host: normalize_host(&body.kubernetes_host)?,
        kubernetes_ca_cert: body.kubernetes_ca_cert,
        token_reviewer_jwt: body.token_reviewer_jwt.filter(|jwt| !jwt.trim().is_empty()),
        pem_keys: body.pem_keys.unwrap_or_default(),
        disable_local_ca_jwt: body.disable_local_ca_jwt,
        issuer: body.issuer,
        disable_iss_validation: body.disable_iss_validation,
        jwks_url: body.jwks_url.trim().to_string(),
        jwks_ca_cert: body.jwks_ca_cert,
        validation: body.validation.unwrap_or_default(),
    };
    validate(&config)?;
    ctx.storage.put_json(STORAGE_KEY, &config).await?;
    Ok(Response::no_content())
}

/// Rejects at write time what would otherwise fail every login.
fn validate(config: &Config) -> Result<(), KubeAuthError> {
    if !config.kubernetes_ca_cert.trim().is_empty() {
        keys::parse_certificates(&config.kubernetes_ca_cert)
            .map_err(|error| KubeAuthError::invalid(format!("kubernetes_ca_cert: {error}")))?;
    }
    if !config.jwks_ca_cert.trim().is_empty() {
        keys::parse_certificates(&config.jwks_ca_cert)
            .map_err(|error| KubeAuthError::invalid(format!("jwks_ca_cert: {error}")))?;
    }
    for (index, pem) in config.pem_keys.iter().enumerate() {
        keys::VerifyKey::from_pem(pem)
            .map_err(|error| KubeAuthError::invalid(format!("pem_keys[{index}]: {error}")))?;
    }
    if !config.jwks_url.is_empty() && !config.jwks_url.starts_with("https://") {
        return Err(KubeAuthError::invalid("jwks_url must be an https:// URL"));
    }
    if config.validation == ValidationMode::Local
        && config.pem_keys.is_empty()
        && config.jwks_url.is_empty()
    {
        return Err(KubeAuthError::invalid(
            "validation \"local\" needs pem_keys or a jwks_url to verify tokens with",
        ));
    }
    Ok(())
}

/// Vault accepts a URL, `host` or `host:port`; a bare host means HTTPS.
fn normalize_host(host: &str) -> Result<String, KubeAuthError> {
    let host = host.trim().trim_end_matches('/');
    if host.is_empty() {
        return Ok(String::new());
    }
    let url = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(KubeAuthError::invalid(
            "kubernetes_host must be an http(s) URL, a host or a host:port",
        ));
    }
    reqwest::Url::parse(&url)
        .map_err(|_| KubeAuthError::invalid("kubernetes_host is not a valid URL"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(
            normalize_host("10.0.0.1:443").unwrap(),
            "https://10.0.0.1:443"
        );
        assert_eq!(
            normalize_host("https://kubernetes.default.svc/").unwrap(),
            "https://kubernetes.default.svc"
        );
        assert_eq!(normalize_host("").unwrap(), "");
        assert!(normalize_host("ftp://x").is_err());
        assert!(normalize_host("https://bad host").is_err());
    }

    #[test]
    fn reviewer_jwt_never_debug_prints() {
        let config = Config {
            token_reviewer_jwt: Some(SecretText::new("eyJsecret".into())),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("eyJsecret"));
    }
}
