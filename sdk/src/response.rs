//! What an engine answers. The broker wraps it in the Vault envelope, registers a lease for
//! `secret`, and mints a token for `auth`.

use crate::{AuthGrant, LeaseSpec, Map};

#[derive(Debug, Default)]
pub struct Response {
    /// The response data; `None` means "no content" (HTTP 204 in the Vault dialect).
    pub data: Option<Map>,
    /// A leased secret: the broker tracks it and later calls the engine's `revoke`.
    pub secret: Option<LeaseSpec>,
    /// A successful login: the broker mints a token from it.
    pub auth: Option<AuthGrant>,
    pub warnings: Vec<String>,
}

impl Response {
    /// A response with no body.
    pub fn no_content() -> Self {
        Self::default()
    }

    pub fn with_data(data: Map) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A response with data built from any serializable value. Fails only if the value does
    /// not serialize to a JSON object, which is an engine bug.
    pub fn from_serialize<T: serde::Serialize>(value: &T) -> Result<Self, crate::EngineError> {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(map)) => Ok(Self::with_data(map)),
            Ok(_) => Err(crate::EngineError::Internal(
                "response data is not a JSON object".into(),
            )),
            Err(error) => Err(crate::EngineError::Internal(format!(
                "response data does not serialize: {error}"
            ))),
        }
    }

    /// The `keys` list response of a LIST request.
    pub fn list(keys: Vec<String>) -> Self {
        let mut data = Map::new();
        data.insert("keys".into(), keys.into());
        Self::with_data(data)
    }

    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}
