//! `lessor`: the server and the operator/client command line.
//!
//! `main` only installs the process-wide crypto provider, parses the command line (accepting
//! vault's single-dash long flags), runs the command and maps the result to an exit code:
//! 0 success, 1 error, 2 usage error or a negative answer (sealed, nothing at a path).

#![forbid(unsafe_code)]

mod argv;
mod client;
mod command;
mod error;
mod format;
mod output;
mod prompt;
mod request_data;
mod sensitive;
mod settings;
mod token_file;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a request allocates many small, short-lived buffers
/// across two runtime threads, where glibc's arenas and consolidation cost the broker about a
/// fifth of its CPU under load (bench/cpu_split.py with `--perf`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use crate::command::Cli;
use crate::settings::EnvVars;

fn main() -> ExitCode {
    // One crypto provider for every TLS user in the process (reqwest here, the broker's
    // listener and database clients under `lessor server`). It fails only if one is already
    // installed, which is then the one to use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let args = std::env::args_os().map(|arg| {
        arg.into_string()
            .unwrap_or_else(|os| os.to_string_lossy().into_owned())
    });
    let cli = match Cli::try_parse_from(argv::normalise(args)) {
        Ok(cli) => cli,
        // Prints help/version to stdout (exit 0) or the usage error to stderr (exit 2).
        Err(err) => err.exit(),
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error starting the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(command::run(cli, EnvVars::from_process())) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(err.exit_code())
        }
    }
}
