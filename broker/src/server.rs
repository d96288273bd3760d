//! Starting the broker: config, storage, listener. (Being built.)

use std::path::PathBuf;

/// Storage for `-dev` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevStorage {
    #[default]
    Sqlite,
    Memory,
}

/// What `lessor server` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ServerArgs {
    pub dev: bool,
    pub config: Option<PathBuf>,
    pub dev_listen_address: Option<String>,
    pub dev_storage: DevStorage,
    pub dev_root_token_id: Option<String>,
}

/// Runs the server until it is told to stop.
pub async fn run(_args: ServerArgs) -> anyhow::Result<()> {
    anyhow::bail!("the server is not wired yet")
}
