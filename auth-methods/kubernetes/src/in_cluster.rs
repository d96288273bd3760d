//! What a pod offers without any configuration: the API server's address from the
//! `KUBERNETES_SERVICE_HOST`/`_PORT` environment, its CA and the pod's own service-account
//! token from the files kubelet mounts. Used for whatever `config` leaves empty, unless
//! `disable_local_ca_jwt` is set (then only the host is taken from here).

use std::path::PathBuf;

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// In-cluster defaults. [`InCluster::from_env`] reads the real ones; tests point the paths
/// at temporary files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InCluster {
    /// `https://host:port` of the API server, when known.
    pub host: Option<String>,
    /// The API server's CA bundle.
    pub ca_cert_path: PathBuf,
    /// The pod's service-account token, used as the TokenReview bearer. Re-read as it
    /// rotates.
    pub token_path: PathBuf,
}

impl InCluster {
    /// The defaults of the pod we run in (or paths that do not exist, outside a pod).
    pub fn from_env() -> Self {
        let host = match (
            std::env::var("KUBERNETES_SERVICE_HOST"),
            std::env::var("KUBERNETES_SERVICE_PORT"),
        ) {
            (Ok(host), Ok(port)) if !host.is_empty() && !port.is_empty() => {
                // An IPv6 service address needs brackets in a URL.
                if host.contains(':') {
                    Some(format!("https://[{host}]:{port}"))
                } else {
                    Some(format!("https://{host}:{port}"))
                }
            }
            _ => None,
        };
        Self {
            host,
            ca_cert_path: PathBuf::from(SERVICE_ACCOUNT_DIR).join("ca.crt"),
            token_path: PathBuf::from(SERVICE_ACCOUNT_DIR).join("token"),
        }
    }
}
