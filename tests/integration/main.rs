//! End-to-end tests: the real `lessor` binary, started as a process with a config file (or
//! in dev mode), driven over real HTTP, on real SQLite and PostgreSQL storage.

// The whole crate is test code: failing loudly is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod apikey;
mod audit;
mod cli;
mod database;
mod flow;
mod ha;
mod kubernetes;
mod manifests;
mod metrics;
mod negative;
mod operations;
mod tls;
mod userpass;
mod vault_client;
