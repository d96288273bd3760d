//! `lessor lease renew|revoke|lookup`: leases of dynamic secrets at `sys/leases/*`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::token::duration_value;
use super::{Context, Outcome};
use crate::error::CliError;
use crate::output::println;

#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Extend a lease
    Renew(RenewArgs),
    /// Revoke a lease (or every lease under a prefix)
    Revoke(RevokeArgs),
    /// Show a lease's issue and expiry times
    Lookup(LeaseIdArgs),
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    pub lease_id: String,
    /// Requested extension, e.g. 1h
    #[arg(long)]
    pub increment: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// A lease id, or with -prefix a lease id prefix
    pub lease_id: String,
    /// Revoke every lease under this prefix
    #[arg(long)]
    pub prefix: bool,
    /// With -prefix: forget the leases even if revoking at the source fails
    #[arg(long, requires = "prefix")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LeaseIdArgs {
    pub lease_id: String,
}

pub async fn run(ctx: &Context, command: LeaseCommand) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    match command {
        LeaseCommand::Renew(args) => {
            let mut body = json!({ "lease_id": args.lease_id });
            if let (Some(map), Some(increment)) = (body.as_object_mut(), args.increment) {
                map.insert("increment".into(), duration_value(&increment));
            }
            let action = format!("renewing lease {}", args.lease_id);
            let response = client
                .write("sys/leases/renew", &body, &action)
                .await?
                .unwrap_or(Value::Null);
            ctx.output.secret(&response)?;
        }
        LeaseCommand::Revoke(args) => {
            let id = args.lease_id.trim_start_matches('/');
            if args.prefix {
                let (endpoint, verb) = if args.force {
                    ("sys/leases/revoke-force", "Force revoked")
                } else {
                    ("sys/leases/revoke-prefix", "Revoked")
                };
                let action = format!("revoking leases under {id}");
                client
                    .write(&format!("{endpoint}/{id}"), &json!({}), &action)
                    .await?;
                println(&format!("Success! {verb} any leases with prefix: {id}"));
            } else {
                let action = format!("revoking lease {id}");
                client
                    .write("sys/leases/revoke", &json!({ "lease_id": id }), &action)
                    .await?;
                println(&format!("Success! Revoked lease: {id}"));
            }
        }
        LeaseCommand::Lookup(args) => {
            let action = format!("looking up lease {}", args.lease_id);
            let response = client
                .write(
                    "sys/leases/lookup",
                    &json!({ "lease_id": args.lease_id }),
                    &action,
                )
                .await?
                .unwrap_or(Value::Null);
            ctx.output.secret(&response)?;
        }
    }
    Ok(Outcome::Success)
}
