//! A thin JSON-over-HTTP client for the tests: status code plus parsed body, nothing hidden.

use reqwest::Method;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    pub token: Option<String>,
}

/// A response: the status and the JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The `errors` array joined, for assertion messages.
    pub fn errors(&self) -> String {
        self.body["errors"].to_string()
    }
}

impl Api {
    pub fn new(address: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("{address}/v1/"),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches the broker");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply { status, body }
    }

    pub async fn raw(&self, method: &str, path: &str, body: Vec<u8>) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token);
        }
        let response = request.send().await.expect("request reaches the broker");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// `http://…/v1/`
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A GET that may fail at the transport (the broker being killed): `None` then, or on
    /// any non-200 answer.
    pub async fn try_get(&self, path: &str) -> Option<serde_json::Value> {
        let mut request = self.http.get(format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token);
        }
        let response = request.send().await.ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn list(&self, path: &str) -> Reply {
        self.call("LIST", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }
}

/// Initialises a broker and returns (shares as hex, root token).
pub async fn init(api: &Api, shares: u8, threshold: u8) -> (Vec<String>, Vec<String>, String) {
    let reply = api
        .put(
            "sys/init",
            serde_json::json!({"secret_shares": shares, "secret_threshold": threshold}),
        )
        .await;
    assert_eq!(reply.status, 200, "init failed: {:?}", reply.body);
    let strings = |field: &str| -> Vec<String> {
        reply.body[field]
            .as_array()
            .expect(field)
            .iter()
            .map(|v| v.as_str().expect("string").to_string())
            .collect()
    };
    let root = reply.body["root_token"]
        .as_str()
        .expect("root token")
        .to_string();
    (strings("keys"), strings("keys_base64"), root)
}

/// Submits shares until unsealed; asserts the progress reported along the way.
pub async fn unseal(api: &Api, shares: &[String]) {
    for (index, share) in shares.iter().enumerate() {
        let reply = api
            .put("sys/unseal", serde_json::json!({"key": share}))
            .await;
        assert_eq!(reply.status, 200, "unseal failed: {:?}", reply.body);
        if index + 1 < shares.len() {
            assert_eq!(reply.body["sealed"], true);
            assert_eq!(reply.body["progress"], index as u64 + 1);
        } else {
            assert_eq!(
                reply.body["sealed"], false,
                "still sealed: {:?}",
                reply.body
            );
            assert_eq!(reply.body["progress"], 0);
        }
    }
}
