//! Shared fixtures for Lessor's tests: a real PostgreSQL (the local server when it is up, a
//! throwaway cluster otherwise) and real broker processes.

pub mod broker;
pub mod kubernetes;
pub mod postgres;
