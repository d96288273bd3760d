//! The Lessor token store: Vault-compatible service tokens kept only as keyed hashes, with
//! accessors, TTLs and renewal, use limits, and parent/child revocation ([`TokenStore`]),
//! plus the `auth/token/*` endpoints built on it ([`TokenEndpoints`]).
//!
//! The broker hands the store a storage view scoped to `sys/token/` (encrypted by the
//! barrier underneath) and a clock; it plugs lease revocation and auth-method renewal in
//! through [`TokenHooks`].

mod credential;
mod endpoints;
mod entry;
mod error;
mod hooks;
mod lifetime;
mod revoke;
mod store;

pub use credential::{SERVICE_TOKEN_PREFIX, SecretToken};
pub use endpoints::{Caller, TokenEndpoints, TokenResponse};
pub use entry::{DEFAULT_POLICY, ROOT_POLICY, TokenEntry, sanitize_policies};
pub use error::TokenError;
pub use hooks::TokenHooks;
pub use lifetime::TokenLimits;
pub use store::{CreateToken, IssuedToken, Renewal, TokenStore};
