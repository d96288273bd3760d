//! The token store: minting tokens, authenticating them (with use counting), looking them
//! up and renewing them. Tokens are kept only as keyed hashes:
//!
//! - `salt`: 32 random bytes, the HMAC key, created on first use;
//! - `id/<hex HMAC-SHA-256(salt, token)>`: the [`TokenEntry`];
//! - `accessor/<accessor>`: the token's hash;
//! - `parent/<parent hash>/<child hash>`: an empty marker, so a parent finds its children.
//!
//! A token's entry and indexes are written with one atomic `apply`. Every read-modify-write
//! of an entry holds that token's lock (one of a fixed set of shards), so use counting,
//! renewal and revocation never undo one another. Revocation lives in `revoke.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use lessor_sdk::{AuthGrant, Clock, MountStorage, StorageOp, Ttl};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use tokio::sync::{Mutex, MutexGuard, OnceCell};
use zeroize::Zeroizing;

use crate::credential::{
    check_custom_id, generate_accessor, is_plausible_accessor, is_plausible_token,
};
use crate::entry::{ROOT_POLICY, sanitize_policies};
use crate::hooks::NoHooks;
use crate::lifetime::{TtlRequest, add, calculate_ttl, cap_to_parent};
use crate::{SecretToken, TokenEntry, TokenError, TokenHooks, TokenLimits};

const SALT_KEY: &str = "salt";
const SALT_LEN: usize = 32;
const LOCK_SHARDS: usize = 64;

/// What to mint. Policy and TTL rules are the caller's (the `auth/token` endpoints, a login);
/// the store only checks that the result is coherent and that the parent is still alive.
#[derive(Debug, Clone, Default)]
pub struct CreateToken {
    /// A caller-chosen token (root or sudo only, checked by the caller); `None` generates one.
    pub id: Option<SecretToken>,
    /// The parent's hash; `None` makes an orphan.
    pub parent: Option<String>,
    pub policies: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    /// 0 means unlimited.
    pub num_uses: u32,
    /// `None`: never expires (root tokens only).
    pub ttl: Option<Duration>,
    pub explicit_max_ttl: Duration,
    /// The auth method's maximum TTL; zero when none.
    pub max_ttl: Duration,
    pub period: Duration,
    pub renewable: bool,
    pub path: String,
    pub internal: Value,
}

/// A freshly minted token: the only moment the client token exists outside the client.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub client_token: SecretToken,
    pub entry: TokenEntry,
}

impl IssuedToken {
    /// Vault's `auth` response block for this token.
    pub fn to_auth_data(&self, now: OffsetDateTime) -> lessor_sdk::Map {
        self.entry.to_auth_data(Some(&self.client_token), now)
    }
}

/// The outcome of a renewal; `warnings` says when a limit capped the new TTL.
#[derive(Debug, Clone)]
pub struct Renewal {
    pub entry: TokenEntry,
    pub warnings: Vec<String>,
}

/// Hashed, encrypted-at-rest service tokens.
pub struct TokenStore {
    pub(crate) storage: Arc<dyn MountStorage>,
    clock: Arc<dyn Clock>,
    limits: TokenLimits,
    salt: OnceCell<Zeroizing<[u8; SALT_LEN]>>,
    locks: Vec<Mutex<()>>,
    hooks: RwLock<Arc<dyn TokenHooks>>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The salt stays out of Debug output.
        f.debug_struct("TokenStore")
            .field("storage", &self.storage)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// `storage` is the barrier view scoped to `sys/token/`.
    pub fn new(storage: Arc<dyn MountStorage>, clock: Arc<dyn Clock>, limits: TokenLimits) -> Self {
        Self {
            storage,
            clock,
            limits,
            salt: OnceCell::new(),
            locks: (0..LOCK_SHARDS).map(|_| Mutex::new(())).collect(),
            hooks: RwLock::new(Arc::new(NoHooks)),
        }
    }

    /// Installs the broker's hooks (lease revocation, auth-method renewal).
    pub fn set_hooks(&self, hooks: Arc<dyn TokenHooks>) {
        *self
            .hooks
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = hooks;
    }

    pub(crate) fn hooks(&self) -> Arc<dyn TokenHooks> {
        Arc::clone(
            &self
                .hooks
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub fn limits(&self) -> TokenLimits {
        self.limits
    }

    /// The current time, truncated to whole seconds as stored.
    pub fn now(&self) -> OffsetDateTime {
        let now = self.clock.now();
        now - time::Duration::nanoseconds(i64::from(now.nanosecond()))
    }

    /// Mints a token. A non-orphan is written only while its parent is still alive.
    pub async fn create(&self, request: CreateToken) -> Result<IssuedToken, TokenError> {
        let now = self.now();
        let policies = sanitize_policies(&request.policies, false);
        let expire_time = match request.ttl {
            None if !policies.iter().any(|policy| policy == ROOT_POLICY) => {
                return Err(TokenError::invalid("only root tokens may never expire"));
            }
            None => None,
            Some(ttl) if ttl.as_secs() == 0 => {
                return Err(TokenError::invalid("ttl must be positive"));
            }
            Some(ttl) => {
                Some(add(now, ttl).ok_or_else(|| TokenError::invalid("ttl is out of range"))?)
            }
        };
        let custom_id = request.id.is_some();
        let client_token = match request.id {
            Some(id) => {
                check_custom_id(id.expose()).map_err(TokenError::invalid)?;
                id
            }
            None => SecretToken::generate(),
        };
        let hash = self.hash(client_token.expose()).await?;
        let entry = TokenEntry {
            hash: hash.clone(),
            accessor: generate_accessor(),
            parent: request.parent,
            policies,
            meta: request.meta,
            display_name: request.display_name,
            num_uses: request.num_uses,
            uses_exhausted: false,
            creation_time: now,
            creation_ttl: Ttl(request.ttl.unwrap_or_default()),
            expire_time,
            explicit_max_ttl: Ttl(request.explicit_max_ttl),
            max_ttl: Ttl(request.max_ttl),
            period: Ttl(request.period),
            renewable: request.renewable && expire_time.is_some(),
            path: request.path,
            internal: request.internal,
            last_renewal: None,
        };
        let mut ops = vec![
            StorageOp::Put {
                key: id_key(&hash),
                value: encode(&entry)?,
            },
            StorageOp::Put {
                key: accessor_key(&entry.accessor),
                value: hash.clone().into_bytes(),
            },
        ];
        // Only a caller-chosen id can collide; generated ones carry ~285 random bits.
        if custom_id && self.storage.get(&id_key(&hash)).await?.is_some() {
            return Err(TokenError::invalid("token ID is already in use"));
        }
        match &entry.parent {
            Some(parent) => {
                ops.push(StorageOp::Put {
                    key: parent_key(parent, &hash),
                    value: Vec::new(),
                });
                // Holding the parent's lock orders this write against the parent's
                // revocation, which re-lists children under the same lock.
                let _guard = self.lock(parent).await;
                let alive = self
                    .load(parent)
                    .await?
                    .is_some_and(|parent| !parent.is_expired(now) && !parent.uses_exhausted);
                if !alive {
                    return Err(TokenError::InvalidToken);
                }
                self.storage.apply(ops).await?;
            }
            None => self.storage.apply(ops).await?,
        }
        Ok(IssuedToken {
            client_token,
            entry,
        })
    }

    /// A root token for `sys/init`, dev mode (which may fix the id) and root generation.
    pub async fn create_root(&self, id: Option<&str>) -> Result<IssuedToken, TokenError> {
        self.create(CreateToken {
            id: id.map(SecretToken::new),
            policies: vec![ROOT_POLICY.to_string()],
            display_name: "root".into(),
            path: "auth/token/root".into(),
            ..CreateToken::default()
        })
        .await
    }

    /// Mints the orphan token of a successful auth-method login. `mount_path` is the
    /// method's mount (`auth/kubernetes/`), `request_path` the login path below it.
    /// Returns the capping warnings alongside the token.
    pub async fn issue_from_grant(
        &self,
        grant: &AuthGrant,
        mount_path: &str,
        request_path: &str,
    ) -> Result<(IssuedToken, Vec<String>), TokenError> {
        let policies = sanitize_policies(&grant.policies, true);
        if policies.iter().any(|policy| policy == ROOT_POLICY) {
            return Err(TokenError::invalid(
                "auth methods cannot create root tokens",
            ));
        }
        let mount = mount_path.trim_matches('/');
        let source = mount
            .strip_prefix("auth/")
            .unwrap_or(mount)
            .replace('/', "-");
        let display_name = if grant.display_name.is_empty() {
            source
        } else {
            format!("{source}-{}", grant.display_name)
        };
        let now = self.now();
        let period = grant.period.unwrap_or_default();
        let max_ttl = grant.max_ttl.unwrap_or_default();
        let (ttl, warnings) = calculate_ttl(
            &self.limits,
            &TtlRequest {
                increment: Duration::ZERO,
                base_ttl: grant.ttl,
                period,
                backend_max_ttl: max_ttl,
                explicit_max_ttl: Duration::ZERO,
                start: now,
            },
            now,
        )?;
        let issued = self
            .create(CreateToken {
                id: None,
                parent: None,
                policies,
                meta: grant.metadata.clone(),
                display_name,
                num_uses: grant.num_uses,
                ttl: Some(ttl),
                explicit_max_ttl: Duration::ZERO,
                max_ttl,
                period,
                renewable: grant.renewable,
                path: format!("{mount}/{}", request_path.trim_matches('/')),
                internal: grant.internal.clone(),
            })
            .await?;
        Ok((issued, warnings))
    }

    /// Checks a presented token and spends one use of a limited one. Unknown, malformed,
    /// expired (revoked on the spot) and used-up tokens are all `InvalidToken`. The use that
    /// brings a token to zero is allowed; the token is then revoked.
    pub async fn authenticate(&self, token: &str) -> Result<TokenEntry, TokenError> {
        let entry = self.lookup(token).await?;
        if entry.num_uses == 0 {
            return Ok(entry);
        }
        let guard = self.lock(&entry.hash).await;
        // Re-read under the lock: a concurrent request may have spent the last use.
        let mut entry = match self.load(&entry.hash).await? {
            Some(entry) if !entry.uses_exhausted => entry,
            _ => return Err(TokenError::InvalidToken),
        };
        entry.num_uses = entry.num_uses.saturating_sub(1);
        let last_use = entry.num_uses == 0;
        // 0 would read as "unlimited", so the spent state is explicit.
        entry.uses_exhausted = last_use;
        self.storage
            .put(&id_key(&entry.hash), &encode(&entry)?)
            .await?;
        drop(guard);
        if last_use {
            self.revoke_quietly(&entry.hash, "used up").await;
        }
        Ok(entry)
    }

    /// The entry of a live token, without spending a use.
    pub async fn lookup(&self, token: &str) -> Result<TokenEntry, TokenError> {
        if !is_plausible_token(token) {
            return Err(TokenError::InvalidToken);
        }
        let hash = self.hash(token).await?;
        self.live_entry(&hash)
            .await?
            .ok_or(TokenError::InvalidToken)
    }

    /// The entry of a live token, by accessor.
    pub async fn lookup_accessor(&self, accessor: &str) -> Result<TokenEntry, TokenError> {
        let hash = self.hash_of_accessor(accessor).await?;
        self.live_entry(&hash)
            .await?
            .ok_or(TokenError::InvalidAccessor)
    }

    /// Every accessor (for `auth/token/accessors`).
    pub async fn list_accessors(&self) -> Result<Vec<String>, TokenError> {
        let mut keys = self.storage.list("accessor/").await?;
        keys.retain(|key| !key.ends_with('/'));
        Ok(keys)
    }

    /// Extends a token by Vault's rules: periodic tokens renew to their period; others to
    /// `increment` (or their creation TTL), capped by the explicit max TTL, the auth
    /// method's and the system's max TTL counted from creation, and the parent's expiry.
    pub async fn renew(
        &self,
        hash: &str,
        increment: Option<Duration>,
    ) -> Result<Renewal, TokenError> {
        let entry = self
            .live_entry(hash)
            .await?
            .ok_or(TokenError::InvalidToken)?;
        if !entry.renewable || entry.expire_time.is_none() {
            return Err(TokenError::NotRenewable);
        }
        // Ask the auth method before taking the lock: it may call out (TokenReview…).
        let grant = if entry.is_from_token_store() {
            None
        } else {
            self.hooks()
                .login_renewal(&entry, increment)
                .await
                .map_err(TokenError::Hook)?
        };
        let (base_ttl, period, max_ttl) = match &grant {
            Some(grant) => {
                let granted = sanitize_policies(&grant.policies, true);
                if without_default(&granted) != without_default(&entry.policies) {
                    return Err(TokenError::invalid("policies have changed, not renewing"));
                }
                (
                    grant.ttl,
                    grant.period.unwrap_or_default(),
                    grant.max_ttl.unwrap_or_default(),
                )
            }
            None => (entry.creation_ttl.0, entry.period.0, entry.max_ttl.0),
        };
        let now = self.now();
        let (ttl, mut warnings) = calculate_ttl(
            &self.limits,
            &TtlRequest {
                increment: increment.unwrap_or_default(),
                base_ttl,
                period,
                backend_max_ttl: max_ttl,
                explicit_max_ttl: entry.explicit_max_ttl.0,
                start: entry.creation_time,
            },
            now,
        )?;
        let ttl = match &entry.parent {
            Some(parent) => {
                let parent = self
                    .live_entry(parent)
                    .await?
                    .ok_or(TokenError::InvalidToken)?;
                let (ttl, warning) = cap_to_parent(ttl, parent.expire_time, now)?;
                warnings.extend(warning);
                ttl
            }
            None => ttl,
        };

        let _guard = self.lock(hash).await;
        let mut entry = match self.load(hash).await? {
            Some(entry) if !entry.uses_exhausted => entry,
            _ => return Err(TokenError::InvalidToken),
        };
        entry.expire_time = Some(add(now, ttl).ok_or(TokenError::PastMaxTtl)?);
        entry.last_renewal = Some(now);
        if let Some(grant) = grant.filter(|grant| !grant.internal.is_null()) {
            entry.internal = grant.internal;
        }
        self.storage.put(&id_key(hash), &encode(&entry)?).await?;
        Ok(Renewal { entry, warnings })
    }

    /// The entry at `hash` if it is live. An expired one is revoked on the spot.
    pub(crate) async fn live_entry(&self, hash: &str) -> Result<Option<TokenEntry>, TokenError> {
        let Some(entry) = self.load(hash).await? else {
            return Ok(None);
        };
        if entry.is_expired(self.now()) {
            self.revoke_quietly(hash, "expired").await;
            return Ok(None);
        }
        Ok((!entry.uses_exhausted).then_some(entry))
    }

    /// The stored entry at `hash`, live or not.
    pub(crate) async fn load(&self, hash: &str) -> Result<Option<TokenEntry>, TokenError> {
        let Some(bytes) = self.storage.get(&id_key(hash)).await? else {
            return Ok(None);
        };
        let entry: TokenEntry = serde_json::from_slice(&bytes)
            .map_err(|error| TokenError::Corrupt(format!("token entry: {error}")))?;
        // The entry must be the one its key names; compared in constant time because the
        // hash is derived from the secret token.
        if !bool::from(entry.hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(TokenError::Corrupt(
                "token entry does not match its key".into(),
            ));
        }
        Ok(Some(entry))
    }

    pub(crate) async fn hash_of_accessor(&self, accessor: &str) -> Result<String, TokenError> {
        if !is_plausible_accessor(accessor) {
            return Err(TokenError::InvalidAccessor);
        }
        let bytes = self
            .storage
            .get(&accessor_key(accessor))
            .await?
            .ok_or(TokenError::InvalidAccessor)?;
        String::from_utf8(bytes).map_err(|_| TokenError::Corrupt("accessor index".into()))
    }

    /// Hex HMAC-SHA-256 of `token` under the store's salt.
    pub(crate) async fn hash(&self, token: &str) -> Result<String, TokenError> {
        let salt = self
            .salt
            .get_or_try_init(|| self.load_or_create_salt())
            .await?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt.as_slice())
            .map_err(|_| TokenError::Corrupt("salt".into()))?;
        mac.update(token.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    async fn load_or_create_salt(&self) -> Result<Zeroizing<[u8; SALT_LEN]>, TokenError> {
        let mut salt = Zeroizing::new([0u8; SALT_LEN]);
        match self.storage.get(SALT_KEY).await? {
            Some(stored) => {
                let stored = Zeroizing::new(stored);
                if stored.len() != SALT_LEN {
                    return Err(TokenError::Corrupt("salt has the wrong length".into()));
                }
                salt.copy_from_slice(&stored);
            }
            None => {
                rand::RngCore::fill_bytes(&mut rand::rng(), salt.as_mut_slice());
                self.storage.put(SALT_KEY, salt.as_slice()).await?;
            }
        }
        Ok(salt)
    }

    /// The lock guarding every read-modify-write of the entry at `hash`.
    pub(crate) async fn lock(&self, hash: &str) -> MutexGuard<'_, ()> {
        let shard = hash.bytes().fold(0usize, |acc, byte| {
            acc.wrapping_mul(31).wrapping_add(usize::from(byte))
        });
        self.locks[shard % self.locks.len()].lock().await
    }
}

fn without_default(policies: &[String]) -> Vec<&str> {
    policies
        .iter()
        .map(String::as_str)
        .filter(|policy| *policy != crate::entry::DEFAULT_POLICY)
        .collect()
}

pub(crate) fn encode(entry: &TokenEntry) -> Result<Vec<u8>, TokenError> {
    serde_json::to_vec(entry)
        .map_err(|error| TokenError::Corrupt(format!("token entry does not encode: {error}")))
}

pub(crate) fn id_key(hash: &str) -> String {
    format!("id/{hash}")
}

pub(crate) fn accessor_key(accessor: &str) -> String {
    format!("accessor/{accessor}")
}

pub(crate) fn children_prefix(parent: &str) -> String {
    format!("parent/{parent}/")
}

pub(crate) fn parent_key(parent: &str, child: &str) -> String {
    format!("parent/{parent}/{child}")
}

#[cfg(test)]
mod tests;
