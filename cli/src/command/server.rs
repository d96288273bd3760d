//! `lessor server`: runs the broker in this process.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use lessor_broker::server::{self as broker_server, DevStorage};

use super::Outcome;
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Start an initialised, unsealed development server with KV at secret/
    #[arg(long)]
    pub dev: bool,
    /// Server configuration file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address the dev server listens on
    #[arg(long, value_name = "ADDR")]
    pub dev_listen_address: Option<String>,
    /// Storage of the dev server
    #[arg(long, value_enum, default_value_t = DevStorageArg::Sqlite)]
    pub dev_storage: DevStorageArg,
    /// Root token id of the dev server (instead of a random one)
    #[arg(long, value_name = "ID")]
    pub dev_root_token_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DevStorageArg {
    Sqlite,
    Memory,
}

impl From<DevStorageArg> for DevStorage {
    fn from(arg: DevStorageArg) -> Self {
        match arg {
            DevStorageArg::Sqlite => DevStorage::Sqlite,
            DevStorageArg::Memory => DevStorage::Memory,
        }
    }
}

impl From<ServerArgs> for broker_server::ServerArgs {
    fn from(args: ServerArgs) -> Self {
        broker_server::ServerArgs {
            dev: args.dev,
            config: args.config,
            dev_listen_address: args.dev_listen_address,
            dev_storage: args.dev_storage.into(),
            dev_root_token_id: args.dev_root_token_id,
        }
    }
}

pub async fn run(args: ServerArgs) -> Result<Outcome, CliError> {
    broker_server::run(args.into())
        .await
        .map_err(CliError::Server)?;
    Ok(Outcome::Success)
}
