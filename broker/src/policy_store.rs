//! ACL policies at rest (`sys/policy/<name>`, the text as the operator wrote it) and the
//! compiled ACLs built from them, cached per policy set and dropped on any policy change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lessor_policy::{Acl, Policy};
use lessor_sdk::MountStorage;

use crate::error::ApiError;

pub const ROOT_POLICY: &str = "root";
pub const DEFAULT_POLICY: &str = "default";

#[derive(Debug)]
pub struct PolicyStore {
    storage: Arc<dyn MountStorage>,
    acls: Mutex<HashMap<Vec<String>, Arc<Acl>>>,
    /// Bumped on every policy change, so an ACL compiled from policies read before a change
    /// is never cached after it.
    generation: AtomicU64,
}

impl PolicyStore {
    pub fn new(storage: Arc<dyn MountStorage>) -> Self {
        Self {
            storage,
            acls: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn forget_acls(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.acls.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The policy text as written, or `None`. `default` always exists; `root` has no text.
    pub async fn read(&self, name: &str) -> Result<Option<Policy>, ApiError> {
        let name = name.to_ascii_lowercase();
        if name == ROOT_POLICY {
            return Ok(None);
        }
        match self.storage.get(&name).await? {
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    ApiError::internal(format!("stored policy {name:?} is not UTF-8"))
                })?;
                Policy::parse(&name, &text).map(Some).map_err(|error| {
                    ApiError::internal(format!("stored policy {name:?} no longer parses: {error}"))
                })
            }
            None if name == DEFAULT_POLICY => {
                Policy::parse(DEFAULT_POLICY, lessor_policy::DEFAULT_POLICY)
                    .map(Some)
                    .map_err(ApiError::internal)
            }
            None => Ok(None),
        }
    }

    /// Names of every policy, including `default` and `root`, sorted.
    pub async fn list(&self) -> Result<Vec<String>, ApiError> {
        let mut names = self.storage.list("").await?;
        names.retain(|name| !name.ends_with('/'));
        for builtin in [DEFAULT_POLICY, ROOT_POLICY] {
            if !names.iter().any(|name| name == builtin) {
                names.push(builtin.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Parses and stores a policy. Invalid text is refused whole; nothing is written.
    pub async fn write(&self, name: &str, text: &str) -> Result<(), ApiError> {
        let name = name.to_ascii_lowercase();
        if name == ROOT_POLICY {
            return Err(ApiError::invalid("cannot update the root policy"));
        }
        let policy = Policy::parse(&name, text)
            .map_err(|error| ApiError::invalid(format!("failed to parse policy: {error}")))?;
        self.storage.put(policy.name(), text.as_bytes()).await?;
        self.forget_acls();
        Ok(())
    }

    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let name = name.to_ascii_lowercase();
        if name == ROOT_POLICY || name == DEFAULT_POLICY {
            return Err(ApiError::invalid(format!(
                "cannot delete the {name} policy"
            )));
        }
        self.storage.delete(&name).await?;
        self.forget_acls();
        Ok(())
    }

    /// The ACL for a token's policies. Unknown policy names grant nothing (a deleted policy
    /// simply stops granting), as in Vault.
    pub async fn acl(&self, names: &[String]) -> Result<Arc<Acl>, ApiError> {
        if names.iter().any(|name| name == ROOT_POLICY) {
            return Ok(Arc::new(Acl::root()));
        }
        let mut key = names.to_vec();
        key.sort();
        key.dedup();
        if let Some(acl) = self
            .acls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(acl));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut policies = Vec::with_capacity(key.len());
        for name in &key {
            if let Some(policy) = self.read(name).await? {
                policies.push(policy);
            }
        }
        let acl = Arc::new(Acl::new(&policies));
        let mut acls = self.acls.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::SeqCst) == generation {
            acls.insert(key, Arc::clone(&acl));
        }
        Ok(acl)
    }
}
