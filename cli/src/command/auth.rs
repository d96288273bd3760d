//! `lessor auth enable|disable|list`: auth method mounts at `sys/auth`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::mount_table::{self, normalise_mount_path};
use super::{Context, Outcome, disable_entry, list_entries};
use crate::error::CliError;
use crate::output::println;

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Enable an auth method
    Enable(EnableArgs),
    /// Disable an auth method (tokens issued through it are revoked)
    Disable(PathArgs),
    /// List enabled auth methods
    List,
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Method type, e.g. kubernetes, userpass
    #[arg(value_name = "TYPE")]
    pub method_type: String,
    /// Mount path under auth/ (defaults to the type)
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    pub path: String,
}

pub async fn run(ctx: &Context, command: AuthCommand) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    match command {
        AuthCommand::Enable(args) => {
            let path = normalise_mount_path(args.path.as_deref().unwrap_or(&args.method_type));
            let mut body = json!({ "type": args.method_type });
            if let (Some(map), Some(description)) = (body.as_object_mut(), args.description) {
                map.insert("description".into(), Value::String(description));
            }
            let action = format!("enabling {} auth at {path}/", args.method_type);
            client
                .post(&format!("sys/auth/{path}"), Some(&body), &action)
                .await?;
            println(&format!(
                "Success! Enabled {} auth method at: {path}/",
                args.method_type
            ));
        }
        AuthCommand::Disable(args) => {
            disable_entry(&client, "auth", "auth method", &args.path).await?;
        }
        AuthCommand::List => {
            list_entries(ctx, &client, "auth", "auth method", mount_table::render).await?;
        }
    }
    Ok(Outcome::Success)
}
