//! The per-mount [`LeaseIntents`] handed to engines in their context.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use lessor_sdk::{EngineError, LeaseIntents};

use super::ExpirationManager;

/// Begins intents for one mount. Holds the manager weakly: the manager owns the router that
/// owns the engines that hold this, and a strong reference would be a cycle.
#[derive(Debug, Clone)]
pub struct MountIntents {
    manager: Weak<ExpirationManager>,
    mount: String,
}

impl MountIntents {
    pub fn new(manager: &Arc<ExpirationManager>, mount: impl Into<String>) -> Self {
        Self {
            manager: Arc::downgrade(manager),
            mount: mount.into(),
        }
    }
}

#[async_trait]
impl LeaseIntents for MountIntents {
    async fn begin(
        &self,
        request_path: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<String, EngineError> {
        let manager = self
            .manager
            .upgrade()
            .ok_or_else(|| EngineError::Internal("the broker is sealed".into()))?;
        manager
            .begin_intent(&self.mount, request_path, kind, payload)
            .await
            .map_err(|error| {
                EngineError::Internal(format!("recording the lease intent failed: {error}"))
            })
    }
}

/// The intents one request begins, so the broker can revoke them at once when the request
/// fails (or leaves extra intents behind) instead of waiting for their TTL.
#[derive(Debug)]
pub struct RequestIntents {
    mount: MountIntents,
    begun: std::sync::Mutex<Vec<String>>,
}

impl RequestIntents {
    pub fn new(mount: MountIntents) -> Self {
        Self {
            mount,
            begun: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every intent begun so far, in order.
    pub fn begun(&self) -> Vec<String> {
        self.begun.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl LeaseIntents for RequestIntents {
    async fn begin(
        &self,
        request_path: &str,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<String, EngineError> {
        let id = self.mount.begin(request_path, kind, payload).await?;
        self.begun
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id.clone());
        Ok(id)
    }
}
