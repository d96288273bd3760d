//! Command-line flags, each with a `LESSOR_CSI_*` environment variable, and the validated
//! runtime configuration built from them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The broker's in-cluster Service, as in `deploy/`.
pub const DEFAULT_BROKER_ADDRESS: &str = "https://lessor.lessor-system.svc:8200";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "lessor-csi",
    version,
    about = "Lessor's CSI node driver: leased secrets as files"
)]
pub struct Args {
    /// The CSI socket kubelet talks to.
    #[arg(
        long,
        env = "LESSOR_CSI_ENDPOINT",
        default_value = "unix:///csi/csi.sock"
    )]
    pub endpoint: String,
    /// This node's name (defaults to $NODE_NAME, set from the pod's spec.nodeName).
    #[arg(long, env = "LESSOR_CSI_NODE_ID")]
    pub node_id: Option<String>,
    /// Per-volume state (no secrets): token accessors, lease ids, renewal times.
    #[arg(
        long,
        env = "LESSOR_CSI_STATE_DIR",
        default_value = "/var/lib/lessor-csi"
    )]
    pub state_dir: PathBuf,
    /// The broker; a volume's `address` attribute overrides it.
    #[arg(long, env = "LESSOR_CSI_BROKER_ADDRESS", default_value = DEFAULT_BROKER_ADDRESS)]
    pub broker_address: String,
    /// PEM file with the CA certificate(s) of the broker's TLS listener.
    #[arg(long, env = "LESSOR_CSI_BROKER_CA_CERT")]
    pub broker_ca_cert: Option<PathBuf>,
    /// Tests only: when a tmpfs cannot be mounted, write secrets to a plain directory on the
    /// node's disk instead of failing the publish.
    #[arg(long, env = "LESSOR_CSI_ALLOW_PLAIN_DIRECTORY")]
    pub allow_plain_directory: bool,
    /// Also serve the Secrets Store CSI Driver provider API on <dir>/lessor.sock
    /// (typically /etc/kubernetes/secrets-store-csi-providers).
    #[arg(long, env = "LESSOR_CSI_PROVIDER_DIR")]
    pub provider_dir: Option<PathBuf>,
    /// Prometheus text at /metrics.
    #[arg(
        long,
        env = "LESSOR_CSI_METRICS_ADDRESS",
        default_value = "0.0.0.0:9102"
    )]
    pub metrics_address: SocketAddr,
    /// A tracing filter, e.g. `info` or `lessor_csi=debug`.
    #[arg(long, env = "LESSOR_CSI_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--endpoint must be unix:///path/to.sock, got {0:?}")]
    Endpoint(String),
    #[error("set --node-id, LESSOR_CSI_NODE_ID or NODE_NAME")]
    NodeId,
    #[error("--broker-address must be an http(s) URL, got {0:?}")]
    BrokerAddress(String),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    pub node_id: String,
    pub state_dir: PathBuf,
    pub broker_address: String,
    pub broker_ca_cert: Option<PathBuf>,
    pub allow_plain_directory: bool,
    pub provider_socket: Option<PathBuf>,
    pub metrics_address: SocketAddr,
}

impl Args {
    pub fn validate(self) -> Result<Config, ConfigError> {
        let socket = self
            .endpoint
            .strip_prefix("unix://")
            .filter(|path| path.starts_with('/'))
            .map(PathBuf::from)
            .ok_or_else(|| ConfigError::Endpoint(self.endpoint.clone()))?;
        let node_id = self
            .node_id
            .or_else(|| std::env::var("NODE_NAME").ok())
            .filter(|id| !id.is_empty())
            .ok_or(ConfigError::NodeId)?;
        if !(self.broker_address.starts_with("https://")
            || self.broker_address.starts_with("http://"))
        {
            return Err(ConfigError::BrokerAddress(self.broker_address));
        }
        Ok(Config {
            socket,
            node_id,
            state_dir: self.state_dir,
            broker_address: self.broker_address,
            broker_ca_cert: self.broker_ca_cert,
            allow_plain_directory: self.allow_plain_directory,
            provider_socket: self.provider_dir.map(|dir| dir.join("lessor.sock")),
            metrics_address: self.metrics_address,
        })
    }
}
