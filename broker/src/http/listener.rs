//! The TCP listener: plain HTTP only when the config says `tls_disable`, otherwise TLS with
//! rustls (aws-lc-rs provider). One accept loop serves both so every connection gets the same
//! stack and the client address.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot read TLS file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS file {0} holds no usable certificate or key")]
    Empty(String),
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

fn read_pem(path: &Path) -> Result<Vec<u8>, ListenerError> {
    std::fs::read(path).map_err(|source| ListenerError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Builds the rustls acceptor from PEM files.
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, ListenerError> {
    let cert_pem = read_pem(cert_file)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| ListenerError::Read {
            path: cert_file.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ListenerError::Empty(cert_file.display().to_string()));
    }
    let key_pem = zeroize::Zeroizing::new(read_pem(key_file)?);
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|source| ListenerError::Read {
            path: key_file.display().to_string(),
            source,
        })?
        .ok_or_else(|| ListenerError::Empty(key_file.display().to_string()))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| ListenerError::Tls(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: &TlsConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ListenerError> {
    let acceptor = match tls {
        TlsConfig::Disabled => None,
        TlsConfig::Files {
            cert_file,
            key_file,
        } => Some(tls_acceptor(cert_file, key_file)?),
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = app.map_request(move |mut request: axum::http::Request<_>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                request
            });
            let service = TowerToHyperService::new(service);
            let builder = auto::Builder::new(TokioExecutor::new());
            let result = match acceptor {
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await
                    }
                    Err(error) => {
                        tracing::debug!(%remote, %error, "TLS handshake failed");
                        return;
                    }
                },
            };
            if let Err(error) = result {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
        });
    }
}
