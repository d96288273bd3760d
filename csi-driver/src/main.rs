//! The `lessor-csi` binary: crypto provider, flags, logging, then [`lessor_csi::run`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One crypto provider everywhere (see docs/ARCHITECTURE.md).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = lessor_csi::config::Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = match args.validate() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("lessor-csi: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    match lessor_csi::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
