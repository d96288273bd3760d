//! `lessor secrets enable|disable|list|tune`: secrets engine mounts at `sys/mounts`.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::mount_table::{self, normalise_mount_path};
use super::{Context, Outcome};
use crate::error::CliError;
use crate::output::println;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Mount a secrets engine
    Enable(EnableArgs),
    /// Unmount a secrets engine (its data and leases go with it)
    Disable(PathArgs),
    /// List mounted secrets engines
    List,
    /// Change a mount's TTLs or description
    Tune(TuneArgs),
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Engine type, e.g. kv, database, apikey
    #[arg(value_name = "TYPE")]
    pub engine_type: String,
    /// Mount path (defaults to the type)
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Default lease TTL, e.g. 1h
    #[arg(long)]
    pub default_lease_ttl: Option<String>,
    /// Maximum lease TTL, e.g. 24h
    #[arg(long)]
    pub max_lease_ttl: Option<String>,
    /// Engine version (for kv: 1 or 2)
    #[arg(long)]
    pub version: Option<u32>,
    /// Engine options, key=value (repeatable)
    #[arg(long = "options", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    pub path: String,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    pub path: String,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub default_lease_ttl: Option<String>,
    #[arg(long)]
    pub max_lease_ttl: Option<String>,
}

pub async fn run(ctx: &Context, command: SecretsCommand) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    match command {
        SecretsCommand::Enable(args) => {
            let path = normalise_mount_path(args.path.as_deref().unwrap_or(&args.engine_type));
            let body = enable_body(&args)?;
            let action = format!("enabling {} at {path}/", args.engine_type);
            client
                .post(&format!("sys/mounts/{path}"), Some(&body), &action)
                .await?;
            println(&format!(
                "Success! Enabled the {} secrets engine at: {path}/",
                args.engine_type
            ));
        }
        SecretsCommand::Disable(args) => {
            let path = normalise_mount_path(&args.path);
            let action = format!("disabling secrets engine at {path}/");
            client
                .delete(&format!("sys/mounts/{path}"), &action)
                .await?;
            println(&format!(
                "Success! Disabled the secrets engine (if it existed) at: {path}/"
            ));
        }
        SecretsCommand::List => {
            let response = client
                .read("sys/mounts", "listing secrets engines")
                .await?
                .unwrap_or(Value::Null);
            ctx.output.text_or_json(
                &mount_table::render(&response),
                &mount_table::json_view(&response),
            )?;
        }
        SecretsCommand::Tune(args) => {
            let path = normalise_mount_path(&args.path);
            let mut body = Map::new();
            insert_some(&mut body, "description", args.description);
            insert_some(&mut body, "default_lease_ttl", args.default_lease_ttl);
            insert_some(&mut body, "max_lease_ttl", args.max_lease_ttl);
            if body.is_empty() {
                return Err(CliError::Usage(
                    "Nothing to tune: give at least one flag".into(),
                ));
            }
            let action = format!("tuning secrets engine at {path}/");
            client
                .post(
                    &format!("sys/mounts/{path}/tune"),
                    Some(&Value::Object(body)),
                    &action,
                )
                .await?;
            println(&format!("Success! Tuned the secrets engine at: {path}/"));
        }
    }
    Ok(Outcome::Success)
}

/// The `sys/mounts/:path` request body for `secrets enable`.
fn enable_body(args: &EnableArgs) -> Result<Value, CliError> {
    let mut config = Map::new();
    insert_some(
        &mut config,
        "default_lease_ttl",
        args.default_lease_ttl.clone(),
    );
    insert_some(&mut config, "max_lease_ttl", args.max_lease_ttl.clone());
    let mut options = Map::new();
    for option in &args.options {
        let (key, value) = option
            .split_once('=')
            .ok_or_else(|| CliError::Usage("-options must be key=value".into()))?;
        options.insert(key.to_string(), Value::String(value.to_string()));
    }
    if let Some(version) = args.version {
        options.insert("version".into(), Value::String(version.to_string()));
    }
    let mut body = json!({ "type": args.engine_type });
    if let Some(map) = body.as_object_mut() {
        insert_some(map, "description", args.description.clone());
        if !config.is_empty() {
            map.insert("config".into(), Value::Object(config));
        }
        if !options.is_empty() {
            map.insert("options".into(), Value::Object(options));
        }
    }
    Ok(body)
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        map.insert(key.to_string(), Value::String(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enable(engine_type: &str) -> EnableArgs {
        EnableArgs {
            engine_type: engine_type.into(),
            path: None,
            description: None,
            default_lease_ttl: None,
            max_lease_ttl: None,
            version: None,
            options: Vec::new(),
        }
    }

    #[test]
    fn minimal_enable_sends_only_the_type() {
        assert_eq!(
            enable_body(&enable("database")).unwrap(),
            json!({"type": "database"})
        );
    }

    #[test]
    fn enable_puts_ttls_in_config_and_version_in_options() {
        let args = EnableArgs {
            description: Some("app creds".into()),
            default_lease_ttl: Some("1h".into()),
            max_lease_ttl: Some("24h".into()),
            version: Some(2),
            options: vec!["x=y=z".into()],
            ..enable("kv")
        };
        assert_eq!(
            enable_body(&args).unwrap(),
            json!({
                "type": "kv",
                "description": "app creds",
                "config": {"default_lease_ttl": "1h", "max_lease_ttl": "24h"},
                "options": {"version": "2", "x": "y=z"}
            })
        );
    }

    #[test]
    fn malformed_option_is_a_usage_error() {
        let args = EnableArgs {
            options: vec!["novalue".into()],
            ..enable("kv")
        };
        assert!(matches!(enable_body(&args), Err(CliError::Usage(_))));
    }
}
