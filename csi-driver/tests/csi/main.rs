//! End-to-end tests of `lessor-csi`: the real binary on a real unix socket, driven with the
//! generated CSI and provider clients, against a real broker process, real PostgreSQL and the
//! HTTPS Kubernetes API-server stand-in. Volumes are real tmpfs mounts (tests run as root),
//! except where a test says it exercises the `--allow-plain-directory` path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod node;
mod provider;
mod restart;
mod token;
