//! `lessor read|write|list|delete|patch PATH`: raw access to any API path, like vault's
//! commands of the same names.

use clap::Args;
use serde_json::Value;

use super::{Context, Outcome, clean_path};
use crate::error::CliError;
use crate::output::println;
use crate::request_data;

#[derive(Debug, Args)]
pub struct ReadArgs {
    pub path: String,
    /// Query parameters, key=value
    pub data: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WriteArgs {
    pub path: String,
    /// Fields: key=value, key=@file, key=- (stdin), - (JSON object on stdin), @file.json
    pub data: Vec<String>,
    /// Send the request even with no data
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    pub path: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    pub path: String,
}

pub async fn read(ctx: &Context, args: ReadArgs) -> Result<Outcome, CliError> {
    let path = clean_path(&args.path);
    let query = request_data::parse(&args.data, &mut std::io::stdin())?;
    let query: Vec<(String, String)> = query
        .into_iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k, text)
        })
        .collect();
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("reading {path}");
    match ctx
        .client()?
        .read_with_query(&path, &query, &action)
        .await?
    {
        Some(response) => {
            ctx.output.secret(&response)?;
            Ok(Outcome::Success)
        }
        None => no_value(&path),
    }
}

pub async fn write(ctx: &Context, args: WriteArgs) -> Result<Outcome, CliError> {
    let path = clean_path(&args.path);
    let body = body(&args)?;
    let action = format!("writing data to {path}");
    let response = ctx.client()?.write(&path, &body, &action).await?;
    written(ctx, &path, response)
}

pub async fn patch(ctx: &Context, args: WriteArgs) -> Result<Outcome, CliError> {
    let path = clean_path(&args.path);
    let body = body(&args)?;
    let action = format!("patching {path}");
    let response = ctx.client()?.patch(&path, &body, &action).await?;
    written(ctx, &path, response)
}

pub async fn list(ctx: &Context, args: ListArgs) -> Result<Outcome, CliError> {
    let path = clean_path(&args.path);
    let action = format!("listing {path}/");
    match ctx.client()?.list(&path, &action).await? {
        Some(response) => {
            ctx.output.keys(&response)?;
            Ok(Outcome::Success)
        }
        None => no_value(&format!("{path}/")),
    }
}

pub async fn delete(ctx: &Context, args: DeleteArgs) -> Result<Outcome, CliError> {
    let path = clean_path(&args.path);
    let action = format!("deleting {path}");
    let response = ctx.client()?.delete(&path, &action).await?;
    match response {
        Some(response) if has_payload(&response) => ctx.output.secret(&response)?,
        _ => println(&format!("Success! Data deleted (if it existed) at: {path}")),
    }
    Ok(Outcome::Success)
}

fn body(args: &WriteArgs) -> Result<Value, CliError> {
    let data = request_data::parse(&args.data, &mut std::io::stdin())?;
    if data.is_empty() && !args.force {
        return Err(CliError::Usage("Must supply data or use -force".into()));
    }
    Ok(Value::Object(data))
}

fn written(ctx: &Context, path: &str, response: Option<Value>) -> Result<Outcome, CliError> {
    match response {
        Some(response) if has_payload(&response) => ctx.output.secret(&response)?,
        _ => println(&format!("Success! Data written to: {path}")),
    }
    Ok(Outcome::Success)
}

/// Whether an answer carries anything worth a table (vault prints "Success!" otherwise).
fn has_payload(response: &Value) -> bool {
    let present = |key: &str| {
        response.get(key).is_some_and(|v| match v {
            Value::Null => false,
            Value::Object(map) => !map.is_empty(),
            Value::Array(items) => !items.is_empty(),
            _ => true,
        })
    };
    present("data") || present("auth") || present("warnings") || present("wrap_info")
}

/// Nothing at the path: vault reports it on stderr and exits 2.
fn no_value(path: &str) -> Result<Outcome, CliError> {
    eprintln!("No value found at {path}");
    Ok(Outcome::Negative)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payload_means_data_auth_or_warnings() {
        assert!(has_payload(&json!({"data": {"a": 1}})));
        assert!(has_payload(&json!({"auth": {"client_token": "x"}})));
        assert!(has_payload(&json!({"warnings": ["w"]})));
        assert!(!has_payload(
            &json!({"data": null, "auth": null, "warnings": []})
        ));
        assert!(!has_payload(&json!({"request_id": "r", "data": {}})));
    }
}
