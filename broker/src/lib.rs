//! The Lessor broker: the seal lifecycle, router and mounts, tokens, policies and the
//! Vault-dialect HTTP API. See docs/ARCHITECTURE.md for the map.

pub mod audit;
pub mod config;
pub mod core;
pub mod error;
pub mod ha;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod mount;
pub mod policy_store;
pub mod request;
pub mod server;
pub mod system;
pub mod view;
