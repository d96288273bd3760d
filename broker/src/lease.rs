//! Leases: every dynamic secret an engine creates is tracked here until it is revoked.
//!
//! The lease index lives in storage (`lessor_leases`) with the *due time* (expiry, or the next
//! retry of a failed revocation) as a plain, indexed column and the rest of the lease sealed by
//! the barrier; the sealed record repeats the due time, so tampering with the plain column is
//! detected. The [`ExpirationManager`] keeps only the near future in memory (a timer queue
//! refilled from the index), so unsealing costs the same with a million leases as with none.
//!
//! Crash safety (invariant 3): engines begin an *intent* before creating anything
//! ([`lessor_sdk::LeaseIntents`]); an intent is a pending lease with a short expiry. Finishing
//! the request turns it into an active lease; anything else — an engine error, a client that
//! hangs up, a crash — leaves it to expire, and expiry revokes it through the engine.

mod expiry;
mod intents;
mod locks;
mod manager;
mod persist;
mod record;
mod timer;

pub use intents::{MountIntents, RequestIntents};
pub use manager::TOKEN_MOUNT;
pub(crate) use manager::leased_secret;
pub use manager::{
    ExpirationManager, LEASE_CACHE, LeaseError, LeaseTarget, Registered, RenewResult, RetryPolicy,
};
pub use record::{LeaseRecord, LeaseState};

/// The storage domain of sealed lease records (part of their AAD).
pub(crate) const RECORD_DOMAIN: &str = "lease";

#[cfg(test)]
mod tests;
