//! The `auth/token/*` endpoints in Vault's shapes: create (and create-orphan), lookup,
//! renew and revoke by token, by accessor or for the caller, and the accessor list. Vault's
//! create rules live here: policy subsetting, `default`, orphans and periodic tokens for
//! root/sudo only, TTLs bounded by the system, the explicit max and the parent.
//!
//! The broker authenticates the caller first (spending one use) and says whether the caller
//! has `sudo` on the path; policy enforcement on the path itself is the broker's.

mod body;

use std::sync::Arc;
use std::time::Duration;

use lessor_sdk::{Map, Operation, Request, Route, Ttl};
use serde_json::{Value, json};

use crate::credential::check_custom_id;
use crate::entry::{DEFAULT_POLICY, ROOT_POLICY, sanitize_policies};
use crate::lifetime::{TtlRequest, calculate_ttl, cap_to_parent};
use crate::{CreateToken, IssuedToken, SecretToken, TokenEntry, TokenError, TokenStore};
use body::{
    AccessorBody, CreateBody, Empty, RenewAccessorBody, RenewBody, RenewSelfBody, TokenBody, decode,
};

const CREATE: &str = "create";
const CREATE_ORPHAN: &str = "create-orphan";
const LOOKUP: &str = "lookup";
const LOOKUP_SELF: &str = "lookup-self";
const LOOKUP_ACCESSOR: &str = "lookup-accessor";
const RENEW: &str = "renew";
const RENEW_SELF: &str = "renew-self";
const RENEW_ACCESSOR: &str = "renew-accessor";
const REVOKE: &str = "revoke";
const REVOKE_SELF: &str = "revoke-self";
const REVOKE_ACCESSOR: &str = "revoke-accessor";
const REVOKE_ORPHAN: &str = "revoke-orphan";
const ACCESSORS: &str = "accessors";

/// Policies Vault reserves for its own machinery.
const NON_ASSIGNABLE_POLICIES: &[&str] = &["response-wrapping", "control-group"];

/// The authenticated caller of an `auth/token/*` request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token the caller presented (shown back by `lookup-self` and `renew-self`).
    pub token: SecretToken,
    /// Its entry, as returned by [`TokenStore::authenticate`].
    pub entry: TokenEntry,
    /// Whether the caller's policies grant `sudo` on the request path.
    pub sudo: bool,
}

impl Caller {
    /// Root tokens have sudo everywhere, whatever the broker computed.
    fn is_sudo(&self) -> bool {
        self.sudo || self.entry.is_root()
    }
}

/// What an endpoint answers.
#[derive(Debug)]
pub enum TokenResponse {
    /// A `data` object (lookups, the accessor list).
    Data(Map),
    /// HTTP 204.
    NoContent,
    /// Vault's `auth` block with the client token (create, renew, renew-self).
    Issued {
        token: IssuedToken,
        warnings: Vec<String>,
    },
    /// Vault's `auth` block with an empty `client_token`: renewal by accessor.
    Renewed {
        entry: TokenEntry,
        warnings: Vec<String>,
    },
}

/// The handlers of `auth/token/*`.
#[derive(Debug, Clone)]
pub struct TokenEndpoints {
    store: Arc<TokenStore>,
}

impl TokenEndpoints {
    pub fn new(store: Arc<TokenStore>) -> Self {
        Self { store }
    }

    /// The routes below `auth/token/`, for the broker's router (404/405 decisions).
    pub fn routes() -> Vec<Route> {
        const UPDATE: &[Operation] = &[Operation::Update];
        vec![
            Route::new(CREATE, UPDATE),
            Route::new(CREATE_ORPHAN, UPDATE),
            Route::new(LOOKUP, &[Operation::Update, Operation::Read]),
            Route::new(LOOKUP_SELF, &[Operation::Read]),
            Route::new(LOOKUP_ACCESSOR, UPDATE),
            Route::new(RENEW, UPDATE),
            Route::new(RENEW_SELF, UPDATE),
            Route::new(RENEW_ACCESSOR, UPDATE),
            Route::new(REVOKE, UPDATE),
            Route::new(REVOKE_SELF, UPDATE),
            Route::new(REVOKE_ACCESSOR, UPDATE),
            Route::new(REVOKE_ORPHAN, UPDATE),
            Route::new(ACCESSORS, &[Operation::List]),
        ]
    }

    /// Handles one routed request (`request.route` is one of [`Self::routes`]).
    pub async fn handle(
        &self,
        request: &Request,
        caller: &Caller,
    ) -> Result<TokenResponse, TokenError> {
        let now = self.store.now();
        match request.route {
            CREATE => self.create(request, caller, false).await,
            CREATE_ORPHAN => self.create(request, caller, true).await,
            LOOKUP => {
                let body: TokenBody = decode(request)?;
                if body.token.is_empty() {
                    return Ok(self_lookup(caller, now));
                }
                let token = SecretToken::new(body.token);
                let entry = self.store.lookup(token.expose()).await?;
                Ok(TokenResponse::Data(entry.to_lookup_data(Some(&token), now)))
            }
            LOOKUP_SELF => {
                decode::<Empty>(request)?;
                Ok(self_lookup(caller, now))
            }
            LOOKUP_ACCESSOR => {
                let body: AccessorBody = decode(request)?;
                let entry = self
                    .store
                    .lookup_accessor(required(&body.accessor, "accessor")?)
                    .await?;
                Ok(TokenResponse::Data(entry.to_lookup_data(None, now)))
            }
            RENEW => {
                let body: RenewBody = decode(request)?;
                required(&body.token, "token")?;
                let token = SecretToken::new(body.token);
                let entry = self.store.lookup(token.expose()).await?;
                let renewal = self
                    .store
                    .renew(&entry.hash, increment(body.increment))
                    .await?;
                Ok(issued(token, renewal))
            }
            RENEW_SELF => {
                let body: RenewSelfBody = decode(request)?;
                let renewal = self
                    .store
                    .renew(&caller.entry.hash, increment(body.increment))
                    .await?;
                Ok(issued(caller.token.clone(), renewal))
            }
            RENEW_ACCESSOR => {
                let body: RenewAccessorBody = decode(request)?;
                let entry = self
                    .store
                    .lookup_accessor(required(&body.accessor, "accessor")?)
                    .await?;
                let renewal = self
                    .store
                    .renew(&entry.hash, increment(body.increment))
                    .await?;
                Ok(TokenResponse::Renewed {
                    entry: renewal.entry,
                    warnings: renewal.warnings,
                })
            }
            REVOKE => {
                let body: TokenBody = decode(request)?;
                self.store
                    .revoke_token(required(&body.token, "token")?)
                    .await?;
                Ok(TokenResponse::NoContent)
            }
            REVOKE_SELF => {
                decode::<Empty>(request)?;
                self.store.revoke_tree(&caller.entry.hash).await?;
                Ok(TokenResponse::NoContent)
            }
            REVOKE_ACCESSOR => {
                let body: AccessorBody = decode(request)?;
                self.store
                    .revoke_accessor(required(&body.accessor, "accessor")?)
                    .await?;
                Ok(TokenResponse::NoContent)
            }
            REVOKE_ORPHAN => {
                let body: TokenBody = decode(request)?;
                if !caller.is_sudo() {
                    return Err(TokenError::invalid(
                        "root or sudo privileges required to revoke and orphan",
                    ));
                }
                let entry = self.store.lookup(required(&body.token, "token")?).await?;
                self.store.revoke_orphan(&entry.hash).await?;
                Ok(TokenResponse::NoContent)
            }
            ACCESSORS => {
                // The broker demands sudo by policy; checked again so this never leaks.
                if !caller.is_sudo() {
                    return Err(TokenError::InvalidToken);
                }
                let mut data = Map::new();
                data.insert("keys".into(), json!(self.store.list_accessors().await?));
                Ok(TokenResponse::Data(data))
            }
            other => Err(TokenError::invalid(format!(
                "unsupported path auth/token/{other}"
            ))),
        }
    }

    /// Vault's `handleCreateCommon`, without roles and batch tokens.
    async fn create(
        &self,
        request: &Request,
        caller: &Caller,
        orphan_route: bool,
    ) -> Result<TokenResponse, TokenError> {
        let body: CreateBody = decode(request)?;
        let parent = &caller.entry;
        let sudo = caller.is_sudo();

        // A limited-use token could otherwise escape its limit through children.
        if parent.num_uses > 0 || parent.uses_exhausted {
            return Err(TokenError::invalid(
                "restricted use token cannot generate child tokens",
            ));
        }
        match body.token_type.as_deref() {
            None | Some("" | "service" | "default" | "default-service") => {}
            Some("batch" | "default-batch") => {
                return Err(TokenError::invalid("batch tokens are not supported"));
            }
            Some(_) => {
                return Err(TokenError::invalid(
                    "invalid 'type' value: must be \"service\"",
                ));
            }
        }
        if body
            .entity_alias
            .as_deref()
            .is_some_and(|alias| !alias.is_empty())
        {
            return Err(TokenError::invalid("entity_alias is not supported"));
        }
        let id = match body.id.filter(|id| !id.is_empty()) {
            Some(_) if !sudo => {
                return Err(TokenError::invalid(
                    "root or sudo privileges required to specify token id",
                ));
            }
            Some(id) => {
                check_custom_id(&id).map_err(TokenError::invalid)?;
                Some(SecretToken::new(id))
            }
            None => None,
        };

        let policies = child_policies(
            parent,
            body.policies.unwrap_or_default(),
            body.no_default_policy.unwrap_or(false),
            sudo,
        )?;
        let is_root = policies.iter().any(|policy| policy == ROOT_POLICY);

        // Stricter than Vault, which lets policy alone gate `create-orphan`: an orphan
        // escapes its creator's revocation, so both routes to one need root or sudo.
        let orphan = body.no_parent.unwrap_or(false) || orphan_route;
        if orphan && !sudo {
            return Err(TokenError::invalid(
                "root or sudo privileges required to create orphan token",
            ));
        }

        let explicit_max_ttl = ttl_or_zero(body.explicit_max_ttl);
        let period = ttl_or_zero(body.period);
        if !period.is_zero() && !sudo {
            return Err(TokenError::invalid(
                "root or sudo privileges required to create periodic token",
            ));
        }
        let requested_ttl = ttl_or_zero(body.ttl.or(body.lease));

        // Root tokens asking for no TTL never expire; everything else gets one.
        let now = self.store.now();
        let mut warnings = Vec::new();
        let mut ttl = Duration::ZERO;
        if !period.is_zero() || !requested_ttl.is_zero() || !is_root {
            let (calculated, capped) = calculate_ttl(
                &self.store.limits(),
                &TtlRequest {
                    increment: Duration::ZERO,
                    base_ttl: requested_ttl,
                    period,
                    backend_max_ttl: Duration::ZERO,
                    explicit_max_ttl,
                    start: now,
                },
                now,
            )?;
            ttl = calculated;
            warnings.extend(capped);
        }
        if ttl.is_zero() && !explicit_max_ttl.is_zero() {
            ttl = explicit_max_ttl;
        }
        let mut renewable = body.renewable.unwrap_or(true);
        let lifetime = if ttl.is_zero() {
            if parent.expire_time.is_some() {
                return Err(TokenError::invalid(
                    "expiring root tokens cannot create non-expiring root tokens",
                ));
            }
            renewable = false;
            None
        } else if orphan {
            Some(ttl)
        } else {
            let (capped, warning) = cap_to_parent(ttl, parent.expire_time, now)?;
            warnings.extend(warning);
            Some(capped)
        };

        let token = self
            .store
            .create(CreateToken {
                id,
                parent: (!orphan).then(|| parent.hash.clone()),
                policies,
                meta: body.meta.unwrap_or_default(),
                display_name: display_name(body.display_name.as_deref()),
                num_uses: body.num_uses.unwrap_or(0),
                ttl: lifetime,
                explicit_max_ttl,
                max_ttl: Duration::ZERO,
                period,
                renewable,
                path: format!("auth/token/{}", request.path.trim_matches('/')),
                internal: Value::Null,
            })
            .await?;
        Ok(TokenResponse::Issued { token, warnings })
    }
}

/// Vault's policy rules for a child token: no policies inherits the parent's; otherwise a
/// caller without sudo may only pick from its own; `default` is added (when the parent has
/// it, for callers without sudo) unless `no_default_policy`; only root makes root.
fn child_policies(
    parent: &TokenEntry,
    requested: Vec<String>,
    no_default_policy: bool,
    sudo: bool,
) -> Result<Vec<String>, TokenError> {
    let parent_has_default = parent
        .policies
        .iter()
        .any(|policy| policy == DEFAULT_POLICY);
    let (base, add_default) = if requested.is_empty() {
        (sanitize_policies(&parent.policies, false), false)
    } else if !sudo {
        let wanted = sanitize_policies(&requested, false);
        let held = sanitize_policies(&parent.policies, false);
        if !wanted.iter().all(|policy| held.contains(policy)) {
            return Err(TokenError::invalid(
                "child policies must be subset of parent",
            ));
        }
        (wanted, !no_default_policy && parent_has_default)
    } else {
        (requested, !no_default_policy)
    };
    let mut policies = sanitize_policies(&base, add_default);
    if no_default_policy {
        policies.retain(|policy| policy != DEFAULT_POLICY);
    }
    if let Some(reserved) = policies
        .iter()
        .find(|policy| NON_ASSIGNABLE_POLICIES.contains(&policy.as_str()))
    {
        return Err(TokenError::invalid(format!(
            "cannot assign policy {reserved:?}"
        )));
    }
    if policies.iter().any(|policy| policy == ROOT_POLICY) && !parent.is_root() {
        return Err(TokenError::invalid(
            "root tokens may not be created without parent token being root",
        ));
    }
    Ok(policies)
}

/// Vault prefixes `token-` and replaces each run of characters outside `[A-Za-z0-9-]`
/// with one `-`.
fn display_name(requested: Option<&str>) -> String {
    let Some(name) = requested.filter(|name| !name.is_empty()) else {
        return "token".into();
    };
    let mut full = String::from("token-");
    let mut in_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            full.push(c);
            in_run = false;
        } else if !in_run {
            full.push('-');
            in_run = true;
        }
    }
    full.trim_end_matches('-').to_string()
}

fn self_lookup(caller: &Caller, now: time::OffsetDateTime) -> TokenResponse {
    TokenResponse::Data(caller.entry.to_lookup_data(Some(&caller.token), now))
}

fn issued(client_token: SecretToken, renewal: crate::Renewal) -> TokenResponse {
    TokenResponse::Issued {
        token: IssuedToken {
            client_token,
            entry: renewal.entry,
        },
        warnings: renewal.warnings,
    }
}

fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, TokenError> {
    if value.is_empty() {
        return Err(TokenError::invalid(format!("missing {field}")));
    }
    Ok(value)
}

fn increment(ttl: Option<Ttl>) -> Option<Duration> {
    ttl.map(|ttl| ttl.0).filter(|ttl| !ttl.is_zero())
}

fn ttl_or_zero(ttl: Option<Ttl>) -> Duration {
    ttl.map(|ttl| ttl.0).unwrap_or_default()
}

#[cfg(test)]
mod tests;
