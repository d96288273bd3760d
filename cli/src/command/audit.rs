//! `lessor audit enable|disable|list` (audit devices at `sys/audit`, as `vault audit`) and
//! `lessor audit verify FILE`, which checks a file device's hash chain offline: no broker, no
//! token, no salt needed.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::mount_table::{self, normalise_mount_path};
use super::{Context, Outcome, disable_entry, list_entries};
use crate::error::CliError;
use crate::format::{cell, table};
use crate::output::println;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Enable an audit device: `audit enable file file_path=/var/log/lessor/audit.log`
    Enable(EnableArgs),
    /// Disable an audit device
    Disable(PathArgs),
    /// List the enabled audit devices
    List,
    /// Check an audit file's hash chain end to end; names the first broken line (exit 1)
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Device type: file or stdout
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// Device options, key=value: file_path, mode, log_raw, hmac_accessor
    #[arg(value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Where to enable it (defaults to the type)
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    pub path: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The audit log file
    pub file: PathBuf,
}

pub async fn run(ctx: &Context, command: AuditCommand) -> Result<Outcome, CliError> {
    match command {
        AuditCommand::Enable(args) => {
            let path = normalise_mount_path(args.path.as_deref().unwrap_or(&args.kind));
            let body = enable_body(&args)?;
            let action = format!("enabling audit device at {path}/");
            ctx.client()?
                .post(&format!("sys/audit/{path}"), Some(&body), &action)
                .await?;
            println(&format!(
                "Success! Enabled the {} audit device at: {path}/",
                args.kind
            ));
        }
        AuditCommand::Disable(args) => {
            disable_entry(&ctx.client()?, "audit", "audit device", &args.path).await?;
        }
        AuditCommand::List => {
            list_entries(ctx, &ctx.client()?, "audit", "audit device", render).await?;
        }
        // Offline: no broker, no token.
        AuditCommand::Verify(args) => return verify(&args.file),
    }
    Ok(Outcome::Success)
}

/// Verifies a file; a broken chain is an error naming the line.
fn verify(file: &std::path::Path) -> Result<Outcome, CliError> {
    let reader = std::fs::File::open(file).map_err(|source| CliError::File {
        action: "Error opening",
        path: file.to_path_buf(),
        source,
    })?;
    match lessor_audit::verify(std::io::BufReader::new(reader)) {
        Ok(verified) => {
            println(&format!(
                "Success! {} verified: {} lines, hash chain intact.",
                file.display(),
                verified.lines
            ));
            Ok(Outcome::Success)
        }
        Err(error) => Err(CliError::Input(format!(
            "Error verifying {}: {error}",
            file.display()
        ))),
    }
}

/// The `sys/audit/:path` body: options as Vault's string map.
fn enable_body(args: &EnableArgs) -> Result<Value, CliError> {
    let mut options = Map::new();
    for option in &args.options {
        let (key, value) = option
            .split_once('=')
            .ok_or_else(|| CliError::Usage("audit device options must be key=value".into()))?;
        options.insert(key.to_string(), Value::String(value.to_string()));
    }
    let mut body = json!({ "type": args.kind, "options": options });
    if let (Some(map), Some(description)) = (body.as_object_mut(), &args.description) {
        map.insert("description".into(), Value::String(description.clone()));
    }
    Ok(body)
}

/// Vault's `Path  Type  Description` table.
fn render(response: &Value) -> String {
    let rows: Vec<Vec<String>> = mount_table::entries(response)
        .into_iter()
        .map(|(path, entry)| {
            let entry = Value::Object(entry);
            vec![path, cell(&entry, "type"), cell(&entry, "description")]
        })
        .collect();
    table(&["Path", "Type", "Description"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_sends_options_as_strings() {
        let args = EnableArgs {
            kind: "file".into(),
            options: vec!["file_path=/var/log/a.log".into(), "mode=0640".into()],
            path: None,
            description: Some("main".into()),
        };
        assert_eq!(
            enable_body(&args).unwrap(),
            json!({
                "type": "file",
                "description": "main",
                "options": {"file_path": "/var/log/a.log", "mode": "0640"}
            })
        );
        let bad = EnableArgs {
            options: vec!["novalue".into()],
            ..args
        };
        assert!(matches!(enable_body(&bad), Err(CliError::Usage(_))));
    }

    #[test]
    fn verify_names_the_broken_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut bytes = Vec::new();
        let mut prev = lessor_audit::GENESIS.to_string();
        for id in ["1", "2", "3"] {
            let mut line =
                format!(r#"{{"type":"request","request":{{"id":"{id}"}}}}"#).into_bytes();
            prev = lessor_audit::chain::seal(&mut line, &prev);
            bytes.extend_from_slice(&line);
        }
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(verify(&path).unwrap(), Outcome::Success);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        std::fs::write(&path, [lines[0], lines[2]].concat()).unwrap();
        let error = verify(&path).unwrap_err();
        assert_eq!(error.exit_code(), 1);
        assert!(error.to_string().contains("line 2:"), "{error}");
    }

    #[test]
    fn the_list_table_shows_path_type_description() {
        let response =
            json!({"data": {"file/": {"type": "file", "description": "main", "options": {}}}});
        assert!(render(&response).contains("file/    file    main"));
    }
}
