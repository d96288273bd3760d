//! Audit devices: one JSON line per request and per response, with every value that could be
//! a secret replaced by `hmac-sha256:<hex>` under a per-device salt, and every line chained to
//! the one before it so that a changed or removed line is detectable offline.
//!
//! This crate knows nothing of the broker: the broker builds an [`Entry`] from its own
//! request, caller and response types, hands it to each [`Device`], and owns the device table,
//! the salts (kept in the barrier) and the fail-closed policy. What lives here:
//!
//! - [`entry`]: the line model, close to Vault's (`type`, `time`, `auth`, `request`,
//!   `response`, `error`) so existing audit tooling reads it.
//! - [`redact`]: which fields are hashed, and the HMAC itself (keyed once per device).
//! - [`chain`]: the hash chain (`prev_hash`, `hash` on every line) and [`verify`].
//! - [`device`]: the `file` and `stdout` sinks, reopening, and the chain state per device.

#![forbid(unsafe_code)]

pub mod chain;
pub mod device;
pub mod entry;
pub mod redact;

pub use chain::{GENESIS, Verified, VerifyError, verify};
pub use device::{AuditError, Device, Sink};
pub use entry::{Auth, Entry, EntryType, PolicyResults, Request, Response, Revoked};
pub use redact::{Hasher, Redaction};
