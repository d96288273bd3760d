//! ACL policies in Vault's HCL and JSON syntax: parsing and validating policy text
//! ([`Policy::parse`]), merging the policies attached to a token into an [`Acl`], and deciding
//! requests against it with Vault's path-matching priority ([`Acl::authorize`],
//! [`Acl::capabilities`]).
//!
//! The crate is pure and synchronous: it does not store policies (the broker keeps each one's
//! name and raw text and re-parses on load) and knows nothing of HTTP or tokens.
//!
//! Module map: `document` reads HCL/JSON into raw path stanzas; `rule` validates a stanza into a
//! [`PathRule`]; `policy` names a set of rules and holds [`DEFAULT_POLICY`]; `acl` merges and
//! matches; `params` checks request parameters; `name` validates policy names.

#![forbid(unsafe_code)]

mod acl;
mod capability;
mod document;
mod error;
mod name;
mod params;
mod policy;
mod rule;

pub use acl::{Acl, Decision, DenyReason};
pub use capability::{Capability, UnknownCapability};
pub use error::PolicyError;
pub use name::{MAX_NAME_LEN, Reserved, is_reserved, normalize_name, reserved};
pub use policy::{DEFAULT_POLICY, Policy};
pub use rule::{ParameterMap, PathRule};
