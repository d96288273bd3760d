//! End-to-end tests: the real `lessor` binary, started as a process with a config file (or
//! in dev mode), driven over real HTTP, on real SQLite and PostgreSQL storage.

mod api;
mod flow;
mod negative;
mod vault_client;
