//! The Lessor broker: router, mounts, tokens, policies and the Vault-dialect HTTP API.

pub mod server;
