//! The catalog of engine and auth method types this build knows, and how to construct them.
//! Mounting an unknown type is a 400, never a silent no-op.

use std::sync::Arc;

use lessor_sdk::{AuthMethod, Map, SecretEngine};

/// Builds engines and auth methods by type name.
#[derive(Debug, Default, Clone)]
pub struct Catalog;

impl Catalog {
    /// A secret engine of `engine_type`, or why it cannot be built. `options` may be
    /// normalised in place (KV records `version: "2"`).
    pub fn secret_engine(
        &self,
        engine_type: &str,
        options: &mut Map,
    ) -> Result<Arc<dyn SecretEngine>, String> {
        match engine_type {
            "kv" | "kv-v2" => {
                let version = options
                    .get("version")
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| if engine_type == "kv-v2" { "2" } else { "1" }.to_string());
                if version != "2" {
                    return Err(format!(
                        "kv version {version:?} is not supported: Lessor implements KV version 2 (pass options version=2)"
                    ));
                }
                options.insert("version".into(), "2".into());
                Ok(Arc::new(lessor_engine_kv::KvEngine::new()))
            }
            "database" => Ok(Arc::new(lessor_engine_postgres::PostgresEngine::new())),
            "apikey" => Ok(Arc::new(lessor_engine_apikey::ApiKeyEngine::new())),
            other => Err(format!("unknown secrets engine type {other:?}")),
        }
    }

    /// An auth method of `method_type`. The token method is built in, not mountable.
    pub fn auth_method(&self, method_type: &str) -> Result<Arc<dyn AuthMethod>, String> {
        match method_type {
            "token" => Err("the token auth method is built in at auth/token/".into()),
            "userpass" => Ok(Arc::new(lessor_auth_userpass::UserpassAuth::new())),
            "kubernetes" => Ok(Arc::new(lessor_auth_kubernetes::KubernetesAuth::new())),
            other => Err(format!("unknown auth method type {other:?}")),
        }
    }
}
