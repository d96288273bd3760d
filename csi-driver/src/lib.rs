//! `lessor-csi`: Lessor's CSI node driver. Pods mount leased secrets as files; the driver
//! holds the leases for the pod, renews them while the pod lives, rewrites the files before
//! they expire, and revokes everything when the pod goes.
//!
//! # Shape
//!
//! - `node` serves the CSI v1 Identity and Node services (no Controller) on a unix socket
//!   for **ephemeral inline volumes**; `provider` serves the Secrets Store CSI Driver's
//!   `CSIDriverProvider` API with the same logic. Both only validate and translate.
//! - `driver` owns the volumes: publish, unpublish, restart recovery, and one timer task
//!   per volume, so rotation does not depend on kubelet's republish cadence.
//! - `volume` is the lease keeping of one volume ([`volume::Volume::refresh`]): one broker
//!   token per volume, renew at ~2/3 of a TTL, re-mint only at a max-TTL cap or a failed
//!   renewal, re-login only when the token itself cannot be renewed any more.
//! - `broker` is the HTTP client of the broker's Vault-dialect API; `files` the tmpfs and
//!   kubelet's atomic-writer layout; `state` the per-volume records on disk; `attributes`
//!   the volume attributes; `metrics` the Prometheus counters; `config` the flags.
//!
//! # Decisions
//!
//! - **The pod's identity, never the driver's.** Login uses the service-account token
//!   kubelet requests for the pod (`tokenRequests`, audience `lessor` by default). The broker
//!   reports the pod the token is bound to; a token for another pod than the volume's is
//!   refused. The login body is what the broker accepts (`role`, `jwt`); pod name, namespace
//!   and uid from `podInfoOnMount` stay in the driver's state and logs.
//! - **Secrets only in memory.** Files live on a tmpfs mounted at the target path. If the
//!   driver may not mount (no `CAP_SYS_ADMIN`), the publish fails, unless the driver was
//!   started with `--allow-plain-directory`, which exists for tests.
//! - **Where the broker token lives.** Renewing and revoking after a restart needs the
//!   volume's broker token, and the token is a secret, so it is not in the state file on
//!   the node's disk. It is kept in `..lessor-token` (0600, root) on the volume's own tmpfs:
//!   memory-backed, gone when the volume is unmounted, and surviving a driver restart because
//!   the mount does. A root process in the pod can read it, which grants nothing new: the
//!   token carries the role's policies, which the pod gets anyway by logging in with its own
//!   service-account token.
//! - **State on disk, secrets never.** `<state-dir>/volumes/<sha256(volume id)>.json`, 0600:
//!   target, broker, spec, pod, token accessor, lease ids and times.
//! - **Unpublish revokes the token** (`auth/token/revoke-self`), which revokes every lease
//!   it obtained before the token goes, then unmounts and removes the target. A broker
//!   outage fails the call and keeps the state, so kubelet's retry revokes later.
//! - **Provider mode keeps no state on disk**: its files live in the driver's memory
//!   (the Secrets Store CSI Driver writes them). After a restart the next mount logs in and
//!   mints again; the previous token and leases end at their TTLs.
//! - **`unsafe_code` stays forbidden**: `rustix` wraps mount(2) and umount(2) safely.

pub mod attributes;
pub mod broker;
pub mod config;
pub mod driver;
pub mod files;
pub mod metrics;
pub mod node;
pub mod provider;
pub mod state;
pub mod volume;

/// Code generated from `proto/` by build.rs.
#[allow(clippy::all, missing_debug_implementations, unreachable_pub)]
pub mod proto {
    pub mod csi {
        tonic::include_proto!("csi.v1");
    }
    pub mod provider {
        tonic::include_proto!("v1alpha1");
    }
}

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_stream::wrappers::UnixListenerStream;

use crate::config::Config;

/// Binds a unix socket, replacing a stale one from a previous process.
fn bind(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("removing {}", path.display())),
    }
    tokio::net::UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))
}

async fn shutdown() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the driver until SIGTERM/SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let handle = metrics::install()?;
    let ca = config
        .broker_ca_cert
        .as_deref()
        .map(std::fs::read)
        .transpose()
        .context("reading --broker-ca-cert")?;
    let ctx = volume::Context {
        broker: broker::BrokerClient::new(ca.as_deref())?,
        clock: Arc::new(lessor_sdk::SystemClock),
    };
    let store = state::StateStore::open(&config.state_dir)?;
    let driver = driver::Driver::new(
        ctx,
        store,
        config.broker_address.clone(),
        config.allow_plain_directory,
    );
    let restored = driver.restore()?;
    tracing::info!(restored, node = %config.node_id, "lessor-csi starting");

    let metrics_address = config.metrics_address;
    tokio::spawn(async move {
        if let Err(error) = metrics::serve(metrics_address, handle).await {
            tracing::error!(%error, "metrics endpoint failed");
        }
    });

    let node = tonic::transport::Server::builder()
        .add_service(proto::csi::identity_server::IdentityServer::new(
            node::Identity,
        ))
        .add_service(proto::csi::node_server::NodeServer::new(node::Node {
            driver: Arc::clone(&driver),
            node_id: config.node_id.clone(),
        }))
        .serve_with_incoming_shutdown(UnixListenerStream::new(bind(&config.socket)?), shutdown());
    tracing::info!(socket = %config.socket.display(), "serving CSI Identity and Node");

    match &config.provider_socket {
        Some(socket) => {
            let provider = tonic::transport::Server::builder()
                .add_service(
                    proto::provider::csi_driver_provider_server::CsiDriverProviderServer::new(
                        provider::Provider {
                            driver: Arc::clone(&driver),
                        },
                    ),
                )
                .serve_with_incoming_shutdown(UnixListenerStream::new(bind(socket)?), shutdown());
            tracing::info!(socket = %socket.display(), "serving the Secrets Store CSI Driver provider API");
            tokio::try_join!(node, provider)?;
        }
        None => node.await?,
    }
    tracing::info!("lessor-csi stopped");
    Ok(())
}
