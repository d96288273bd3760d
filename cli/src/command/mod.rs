//! The command tree: the top-level clap definition, the context every client command gets, and
//! the dispatch from a parsed command line to its group's module.

mod audit;
mod auth;
mod kv;
mod lease;
mod logical;
mod login;
mod mount_table;
mod operator;
mod policy;
mod secrets;
mod server;
mod status;
mod token;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client::Client;
use crate::error::CliError;
use crate::format::Format;
use crate::output::Output;
use crate::sensitive::SecretText;
use crate::settings::{self, EnvVars, GlobalFlags, Settings};
use crate::token_file;

/// Lessor: a dynamic secrets broker that speaks the Vault HTTP API.
#[derive(Debug, Parser)]
#[command(name = "lessor", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every client command accepts, before or after the command name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Address of the broker [env: LESSOR_ADDR, VAULT_ADDR] [default: http://127.0.0.1:8200]
    #[arg(long, global = true, value_name = "ADDR")]
    pub address: Option<String>,
    /// Output format [env: LESSOR_FORMAT, VAULT_FORMAT]
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// Print only this field of the response, raw
    #[arg(long, global = true, value_name = "NAME")]
    pub field: Option<String>,
    /// PEM file of the CA that signed the broker's certificate [env: LESSOR_CACERT, VAULT_CACERT]
    #[arg(long = "ca-cert", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the broker's TLS certificate (testing only)
    /// [env: LESSOR_SKIP_VERIFY, VAULT_SKIP_VERIFY]
    #[arg(long = "tls-skip-verify", global = true)]
    pub tls_skip_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a Lessor server
    Server(server::ServerArgs),
    /// Initialise, unseal, seal, rekey and rotate the broker
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Show the seal status (exit code 2 when sealed)
    Status,
    /// Authenticate and store the token in ~/.lessor-token
    Login(login::LoginArgs),
    /// Read data at a path
    Read(logical::ReadArgs),
    /// Write data to a path
    Write(logical::WriteArgs),
    /// List the keys under a path
    List(logical::ListArgs),
    /// Delete data at a path
    Delete(logical::DeleteArgs),
    /// Patch data at a path (JSON merge patch)
    Patch(logical::WriteArgs),
    /// Key/value secrets (KV version 2)
    #[command(subcommand)]
    Kv(kv::KvCommand),
    /// ACL policies
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Secrets engine mounts
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Auth method mounts
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Tokens
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Leases of dynamic secrets
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
    /// Audit devices, and offline verification of an audit file's hash chain
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Vault's exit code 2 for a negative answer: sealed, not initialised, nothing at the path.
    Negative,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Negative => 2,
        }
    }
}

/// What a client command needs: where the broker is, how to print, and where its token is.
#[derive(Debug)]
pub struct Context {
    pub settings: Settings,
    pub env: EnvVars,
    pub output: Output,
}

impl Context {
    /// A client presenting the token from the environment or the token file, if any.
    pub fn client(&self) -> Result<Client, CliError> {
        let token = settings::resolve_token(&self.env, || self.stored_token())?;
        Client::new(&self.settings, token)
    }

    /// A client that presents no token (init, unseal, status, logins).
    pub fn anonymous_client(&self) -> Result<Client, CliError> {
        Client::new(&self.settings, None)
    }

    fn stored_token(&self) -> Result<Option<SecretText>, CliError> {
        match self.env.home.as_deref() {
            Some(home) => token_file::read(&token_file::path(Some(home))?),
            None => Ok(None),
        }
    }
}

/// `DELETE sys/<table>/<path>` (`table` is `mounts`, `auth` or `audit`; `noun` names one of
/// its entries). Succeeds when nothing was there, as Vault's disable commands do.
async fn disable_entry(
    client: &Client,
    table: &str,
    noun: &str,
    path: &str,
) -> Result<(), CliError> {
    let path = mount_table::normalise_mount_path(path);
    let action = format!("disabling {noun} at {path}/");
    client
        .delete(&format!("sys/{table}/{path}"), &action)
        .await?;
    crate::output::println(&format!(
        "Success! Disabled the {noun} (if it existed) at: {path}/"
    ));
    Ok(())
}

/// `GET sys/<table>`, printed by `render` (or as the entry map for `-format=json`).
async fn list_entries(
    ctx: &Context,
    client: &Client,
    table: &str,
    noun: &str,
    render: fn(&serde_json::Value) -> String,
) -> Result<(), CliError> {
    let response = client
        .read(&format!("sys/{table}"), &format!("listing {noun}s"))
        .await?
        .unwrap_or(serde_json::Value::Null);
    ctx.output
        .text_or_json(&render(&response), &mount_table::json_view(&response))
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, env: EnvVars) -> Result<Outcome, CliError> {
    if let Command::Server(args) = cli.command {
        return server::run(args).await;
    }
    let flags = GlobalFlags {
        address: cli.global.address,
        format: cli.global.format,
        field: cli.global.field,
        ca_cert: cli.global.ca_cert,
        tls_skip_verify: cli.global.tls_skip_verify,
    };
    let settings = Settings::resolve(&flags, &env)?;
    let output = Output {
        format: settings.format,
        field: settings.field.clone(),
    };
    let ctx = Context {
        settings,
        env,
        output,
    };
    match cli.command {
        Command::Server(_) => Ok(Outcome::Success),
        Command::Operator(command) => operator::run(&ctx, command).await,
        Command::Status => status::run(&ctx).await,
        Command::Login(args) => login::run(&ctx, args).await,
        Command::Read(args) => logical::read(&ctx, args).await,
        Command::Write(args) => logical::write(&ctx, args).await,
        Command::List(args) => logical::list(&ctx, args).await,
        Command::Delete(args) => logical::delete(&ctx, args).await,
        Command::Patch(args) => logical::patch(&ctx, args).await,
        Command::Kv(command) => kv::run(&ctx, command).await,
        Command::Policy(command) => policy::run(&ctx, command).await,
        Command::Secrets(command) => secrets::run(&ctx, command).await,
        Command::Auth(command) => auth::run(&ctx, command).await,
        Command::Token(command) => token::run(&ctx, command).await,
        Command::Lease(command) => lease::run(&ctx, command).await,
        Command::Audit(command) => audit::run(&ctx, command).await,
    }
}

/// `secret/foo/` and `/secret/foo` both mean `secret/foo` in a URL.
pub(crate) fn clean_path(path: &str) -> String {
    path.trim_matches('/').to_string()
}

#[cfg(test)]
mod tests;
