//! The plugin contract between the Lessor broker and everything that plugs into it.
//!
//! Secret engines ([`SecretEngine`]) and auth methods ([`AuthMethod`]) depend on this crate
//! and on nothing else of ours. They declare the routes they serve ([`Route`]), receive typed
//! [`Request`]s whose path is already relative to their mount, and answer with a [`Response`]
//! that may carry a leased secret ([`LeaseSpec`]) or an authentication grant ([`AuthGrant`]).
//! They persist state only through [`MountStorage`], a view of the encrypted barrier scoped to
//! their own mount: they never see keys, ciphertext, or another mount's data.
//!
//! Errors crossing the boundary are the few kinds in [`EngineError`]; the broker's HTTP layer
//! maps them to status codes in one place.

mod auth;
mod clock;
mod engine;
mod error;
mod lease;
mod operation;
mod request;
mod response;
mod route;
mod storage;
mod ttl;

pub use auth::{AuthGrant, AuthMethod, AuthRenewal};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{EngineContext, SecretEngine};
pub use error::{EngineError, StorageError};
pub use lease::{LeaseIntents, LeaseSpec, LeasedSecret, RenewOutcome};
pub use operation::Operation;
pub use request::{ClientInfo, Request};
pub use response::Response;
pub use route::{Params, Route, RoutePattern};
pub use storage::{MountStorage, MountStorageExt, StorageOp};
pub use ttl::Ttl;

/// A JSON object: the shape of every request body and response `data` in the Vault dialect.
pub type Map = serde_json::Map<String, serde_json::Value>;

#[cfg(feature = "testing")]
pub mod testing;
