//! `lessor policy write|read|list|delete`: ACL policies at `sys/policies/acl/:name`.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Context, Outcome};
use crate::error::CliError;
use crate::format::Format;
use crate::output::{self, println};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Upload a policy from a file (or - for stdin)
    Write(WriteArgs),
    /// Print a policy
    Read(NameArgs),
    /// List policy names
    List,
    /// Delete a policy
    Delete(NameArgs),
}

#[derive(Debug, Args)]
pub struct WriteArgs {
    pub name: String,
    /// HCL or JSON policy file, or - to read stdin
    pub file: String,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
}

pub async fn run(ctx: &Context, command: PolicyCommand) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    match command {
        PolicyCommand::Write(args) => {
            let text = read_policy_source(&args.file)?;
            let path = policy_path(&args.name)?;
            let action = format!("uploading policy {}", args.name);
            client
                .write(&path, &json!({ "policy": text }), &action)
                .await?;
            println(&format!("Success! Uploaded policy: {}", args.name));
        }
        PolicyCommand::Read(args) => {
            let path = policy_path(&args.name)?;
            let action = format!("reading policy {}", args.name);
            let Some(response) = client.read(&path, &action).await? else {
                eprintln!("No policy named: {}", args.name);
                return Ok(Outcome::Negative);
            };
            let text = response
                .get("data")
                .and_then(|d| d.get("policy"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let text = if text.ends_with('\n') {
                text
            } else {
                format!("{text}\n")
            };
            ctx.output.text_or_json(&text, &response)?;
        }
        PolicyCommand::List => {
            let response = client
                .list("sys/policies/acl", "listing policies")
                .await?
                .unwrap_or(Value::Null);
            let names = output::list_keys(&response);
            // Vault prints policy names one a line, without a table header.
            match ctx.output.format {
                Format::Table => names.iter().for_each(|name| println(name)),
                Format::Json => output::print(&crate::format::json(&Value::from(names))),
            }
        }
        PolicyCommand::Delete(args) => {
            let path = policy_path(&args.name)?;
            let action = format!("deleting policy {}", args.name);
            client.delete(&path, &action).await?;
            println(&format!("Success! Deleted policy: {}", args.name));
        }
    }
    Ok(Outcome::Success)
}

fn policy_path(name: &str) -> Result<String, CliError> {
    let name = name.trim();
    if name.is_empty() || name.contains('/') {
        return Err(CliError::Usage(format!(
            "Invalid policy name {name:?}: it must be non-empty and contain no '/'"
        )));
    }
    Ok(format!("sys/policies/acl/{name}"))
}

fn read_policy_source(file: &str) -> Result<String, CliError> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|err| {
            CliError::Input(format!("Error reading the policy from stdin: {err}"))
        })?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|source| CliError::File {
        action: "Error reading policy file",
        path: file.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_map_to_the_acl_path() {
        assert_eq!(policy_path("app").unwrap(), "sys/policies/acl/app");
        assert!(matches!(policy_path("a/b"), Err(CliError::Usage(_))));
        assert!(policy_path(" ").is_err());
    }

    #[test]
    fn policy_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.hcl");
        std::fs::write(&file, "path \"secret/*\" { capabilities = [\"read\"] }\n").unwrap();
        let text = read_policy_source(file.to_str().unwrap()).unwrap();
        assert!(text.contains("capabilities"));
        assert!(read_policy_source("/nonexistent/lessor.hcl").is_err());
    }
}
