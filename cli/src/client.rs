//! The HTTP client of the broker's Vault-dialect API: `/v1/` paths, the `X-Vault-Token`
//! header, JSON bodies, and `{"errors": [...]}` error bodies turned into [`CliError::Api`].
//!
//! Responses are returned as raw JSON so `-format=json` can print exactly what the broker sent.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::CliError;
use crate::sensitive::SecretText;
use crate::settings::Settings;

/// The header the Vault dialect reads the client token from.
const TOKEN_HEADER: &str = "X-Vault-Token";

/// A connection to one broker, with or without a token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The address as given, for error messages.
    address: String,
    /// The address with `/v1` appended.
    base: String,
    token: Option<SecretText>,
}

impl Client {
    pub fn new(settings: &Settings, token: Option<SecretText>) -> Result<Self, CliError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("lessor-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path).map_err(|source| CliError::File {
                action: "Error reading the CA certificate",
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                CliError::Setup(format!(
                    "Error loading the CA certificate {}: {err}",
                    path.display()
                ))
            })?;
            // Like vault, a given CA replaces the system roots rather than adding to them.
            builder = builder.tls_certs_only(certs);
        }
        if settings.tls_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|err| CliError::Setup(format!("Error setting up the HTTP client: {err}")))?;
        Ok(Client {
            http,
            address: settings.address.trim().trim_end_matches('/').to_string(),
            base: api_base(&settings.address)?,
            token,
        })
    }

    /// The same connection presenting another token (`login` checks a token before storing it).
    pub fn with_token(&self, token: SecretText) -> Client {
        Client {
            token: Some(token),
            ..self.clone()
        }
    }

    /// GET `path`; `None` when nothing is there (404 without data).
    pub async fn read(&self, path: &str, action: &str) -> Result<Option<Value>, CliError> {
        self.send_allowing_missing(Method::GET, path, None, &[], action)
            .await
    }

    /// GET `path` with extra query parameters; `None` when nothing is there.
    pub async fn read_with_query(
        &self,
        path: &str,
        query: &[(&str, &str)],
        action: &str,
    ) -> Result<Option<Value>, CliError> {
        self.send_allowing_missing(Method::GET, path, None, query, action)
            .await
    }

    /// LIST `path` (sent as `GET ?list=true`, which vault's own client does for proxies' sake).
    /// Like the vault CLI, a listed path always ends in `/`: engines route `metadata/` (a
    /// folder) apart from `metadata` (a secret named so).
    pub async fn list(&self, path: &str, action: &str) -> Result<Option<Value>, CliError> {
        let path = list_path(path);
        self.send_allowing_missing(Method::GET, &path, None, &[("list", "true")], action)
            .await
    }

    /// PUT `body` to `path`; `None` for an empty (204) answer.
    pub async fn write(
        &self,
        path: &str,
        body: &Value,
        action: &str,
    ) -> Result<Option<Value>, CliError> {
        self.send(Method::PUT, path, Some(body), &[], action).await
    }

    /// POST `body` to `path` (a few endpoints, like `sys/rotate`, are documented as POST).
    pub async fn post(
        &self,
        path: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<Option<Value>, CliError> {
        self.send(Method::POST, path, body, &[], action).await
    }

    /// DELETE `path`.
    pub async fn delete(&self, path: &str, action: &str) -> Result<Option<Value>, CliError> {
        self.send(Method::DELETE, path, None, &[], action).await
    }

    /// PATCH `path` with a JSON merge patch, as KV v2 expects.
    pub async fn patch(
        &self,
        path: &str,
        body: &Value,
        action: &str,
    ) -> Result<Option<Value>, CliError> {
        let response = self
            .request(
                Method::PATCH,
                path,
                Some(Body::MergePatch(body)),
                &[],
                action,
            )
            .await?;
        decode(&self.address, response, action, false).await
    }

    async fn send_allowing_missing(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
        action: &str,
    ) -> Result<Option<Value>, CliError> {
        let response = self
            .request(method, path, body.map(Body::Json), query, action)
            .await?;
        decode(&self.address, response, action, true).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
        action: &str,
    ) -> Result<Option<Value>, CliError> {
        let response = self
            .request(method, path, body.map(Body::Json), query, action)
            .await?;
        decode(&self.address, response, action, false).await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Body<'_>>,
        query: &[(&str, &str)],
        action: &str,
    ) -> Result<reqwest::Response, CliError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut request = self.http.request(method, url).headers(self.headers()?);
        if !query.is_empty() {
            request = request.query(query);
        }
        match body {
            Some(Body::Json(body)) => request = request.json(body),
            Some(Body::MergePatch(body)) => {
                // KV v2 accepts PATCH only as a JSON merge patch (RFC 7386).
                request = request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/merge-patch+json",
                    )
                    .body(body.to_string());
            }
            None => {}
        }
        request.send().await.map_err(|source| CliError::Transport {
            action: action.to_string(),
            address: self.address.clone(),
            source: source.without_url(),
        })
    }

    fn headers(&self) -> Result<HeaderMap, CliError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
                CliError::Input("The token contains characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(TOKEN_HEADER, value);
        }
        Ok(headers)
    }
}

/// A request body and how to label it.
#[derive(Debug, Clone, Copy)]
enum Body<'a> {
    Json(&'a Value),
    MergePatch(&'a Value),
}

/// `secret/metadata` → `secret/metadata/`.
fn list_path(path: &str) -> String {
    format!("{}/", path.trim_matches('/'))
}

/// `http://host:8200/` → `http://host:8200/v1`.
fn api_base(address: &str) -> Result<String, CliError> {
    let trimmed = address.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(CliError::Setup(format!(
            "The address {trimmed:?} must start with http:// or https://"
        )));
    }
    Ok(format!("{trimmed}/v1"))
}

async fn decode(
    address: &str,
    response: reqwest::Response,
    action: &str,
    missing_is_none: bool,
) -> Result<Option<Value>, CliError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|source| CliError::Transport {
            action: action.to_string(),
            address: address.to_string(),
            source: source.without_url(),
        })?;
    interpret(status, &bytes, action, missing_is_none)
}

/// Turns a status and body into the response JSON or the error the broker reported.
fn interpret(
    status: StatusCode,
    body: &[u8],
    action: &str,
    missing_is_none: bool,
) -> Result<Option<Value>, CliError> {
    let parsed: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    if status.is_success() {
        return match (parsed, body.iter().all(u8::is_ascii_whitespace)) {
            (Some(value), _) => Ok(Some(value)),
            (None, true) => Ok(None),
            (None, false) => Err(CliError::Decode {
                action: action.to_string(),
                detail: format!("HTTP {} with a body that is not JSON", status.as_u16()),
            }),
        };
    }
    if status == StatusCode::NOT_FOUND && missing_is_none {
        // Vault answers a read of an absent path with 404 and `{"errors":[]}`; a 404 that still
        // carries data or warnings is a real answer.
        let has_content = parsed.as_ref().is_some_and(|v| {
            v.get("data").is_some_and(|d| !d.is_null())
                || v.get("warnings")
                    .and_then(Value::as_array)
                    .is_some_and(|w| !w.is_empty())
        });
        return Ok(if has_content { parsed } else { None });
    }
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Err(CliError::Api {
        action: action.to_string(),
        status: status.as_u16(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn api_base_appends_v1_and_rejects_schemeless_addresses() {
        assert_eq!(
            api_base("http://127.0.0.1:8200/").unwrap(),
            "http://127.0.0.1:8200/v1"
        );
        assert_eq!(
            api_base("https://vault.example").unwrap(),
            "https://vault.example/v1"
        );
        assert!(api_base("127.0.0.1:8200").is_err());
    }

    #[test]
    fn listed_paths_end_in_one_slash() {
        assert_eq!(list_path("secret/metadata"), "secret/metadata/");
        assert_eq!(list_path("/secret/metadata//"), "secret/metadata/");
    }

    #[test]
    fn success_with_json_returns_it() {
        let value = interpret(StatusCode::OK, br#"{"data":{"a":"b"}}"#, "reading x", false);
        assert_eq!(value.unwrap(), Some(json!({"data": {"a": "b"}})));
    }

    #[test]
    fn no_content_is_none() {
        assert_eq!(
            interpret(StatusCode::NO_CONTENT, b"", "sealing", false).unwrap(),
            None
        );
    }

    #[test]
    fn success_with_garbage_is_a_decode_error() {
        let err = interpret(StatusCode::OK, b"<html>", "reading x", false).unwrap_err();
        assert!(matches!(err, CliError::Decode { .. }));
    }

    #[test]
    fn errors_body_becomes_an_api_error() {
        let body = br#"{"errors":["permission denied"]}"#;
        let err = interpret(StatusCode::FORBIDDEN, body, "reading secret/x", true).unwrap_err();
        match err {
            CliError::Api { status, errors, .. } => {
                assert_eq!(status, 403);
                assert_eq!(errors, ["permission denied"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_path_reads_as_none_only_when_allowed() {
        let body = br#"{"errors":[]}"#;
        assert_eq!(
            interpret(StatusCode::NOT_FOUND, body, "r", true).unwrap(),
            None
        );
        assert!(interpret(StatusCode::NOT_FOUND, body, "w", false).is_err());
        let with_data = br#"{"data":{"versions":{}},"errors":[]}"#;
        assert!(
            interpret(StatusCode::NOT_FOUND, with_data, "r", true)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn non_json_error_body_still_reports_the_status() {
        let err = interpret(StatusCode::BAD_GATEWAY, b"upstream", "reading x", false);
        assert_eq!(
            err.unwrap_err().to_string(),
            "Error reading x: the server answered HTTP 502"
        );
    }
}
