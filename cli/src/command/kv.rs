//! `lessor kv get|put|patch|list|delete|metadata get`: KV version 2 with vault's path sugar.
//!
//! `kv get secret/app/db` reads `secret/data/app/db`: the first segment is the mount unless
//! `-mount` names it, and the `data/` or `metadata/` segment is added here.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Context, Outcome};
use crate::error::CliError;
use crate::format::{self, Format, banner, key_value_table, map_rows};
use crate::output::{print, println};
use crate::request_data;

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Read a secret (the latest version unless -version)
    Get(GetArgs),
    /// Write a new version of a secret
    Put(PutArgs),
    /// Update some fields of a secret, keeping the others
    Patch(PutArgs),
    /// List secret names under a path
    List(PathArgs),
    /// Delete the latest version of a secret (recoverable with undelete)
    Delete(PathArgs),
    /// Secret metadata
    #[command(subcommand)]
    Metadata(MetadataCommand),
}

#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Show a secret's metadata and versions
    Get(PathArgs),
}

#[derive(Debug, Args)]
pub struct PathArgs {
    pub path: String,
    /// The KV mount (otherwise the first segment of the path)
    #[arg(long)]
    pub mount: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub target: PathArgs,
    /// Version to read
    #[arg(long)]
    pub version: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub target: PathArgs,
    /// Fields: key=value, key=@file, key=-, - (JSON object on stdin)
    pub data: Vec<String>,
    /// Check-and-set: the version this write expects to replace (0 = only if absent)
    #[arg(long)]
    pub cas: Option<u64>,
}

/// A KV v2 secret's place: its mount and its path inside the mount.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KvPath {
    mount: String,
    secret: String,
}

impl KvPath {
    fn new(args: &PathArgs) -> Result<Self, CliError> {
        let path = args.path.trim_matches('/');
        let (mount, secret) = match &args.mount {
            Some(mount) => (mount.trim_matches('/').to_string(), path.to_string()),
            None => match path.split_once('/') {
                Some((mount, rest)) => (mount.to_string(), rest.to_string()),
                None => (path.to_string(), String::new()),
            },
        };
        if mount.is_empty() {
            return Err(CliError::Usage("The path must name a KV mount".into()));
        }
        Ok(KvPath { mount, secret })
    }

    fn api(&self, section: &str) -> String {
        if self.secret.is_empty() {
            format!("{}/{section}", self.mount)
        } else {
            format!("{}/{section}/{}", self.mount, self.secret)
        }
    }

    fn require_secret(self) -> Result<Self, CliError> {
        if self.secret.is_empty() {
            return Err(CliError::Usage(
                "The path must name a secret inside the mount, e.g. secret/app".into(),
            ));
        }
        Ok(self)
    }
}

pub async fn run(ctx: &Context, command: KvCommand) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    match command {
        KvCommand::Get(args) => {
            let path = KvPath::new(&args.target)?.require_secret()?.api("data");
            let version = args.version.map(|v| v.to_string());
            let query: Vec<(&str, &str)> =
                version.iter().map(|v| ("version", v.as_str())).collect();
            let action = format!("reading {path}");
            let Some(response) = client.read_with_query(&path, &query, &action).await? else {
                eprintln!("No value found at {path}");
                return Ok(Outcome::Negative);
            };
            show_secret(ctx, &path, &response)?;
        }
        KvCommand::Put(args) | KvCommand::Patch(args) if args.data.is_empty() => {
            return Err(CliError::Usage("Must supply data".into()));
        }
        KvCommand::Put(args) => {
            let path = KvPath::new(&args.target)?.require_secret()?.api("data");
            let body = put_body(&args)?;
            let action = format!("writing data to {path}");
            let response = client.write(&path, &body, &action).await?;
            show_metadata(ctx, &path, response)?;
        }
        KvCommand::Patch(args) => {
            let path = KvPath::new(&args.target)?.require_secret()?.api("data");
            let body = put_body(&args)?;
            let action = format!("patching {path}");
            let response = client.patch(&path, &body, &action).await?;
            show_metadata(ctx, &path, response)?;
        }
        KvCommand::List(args) => {
            let path = KvPath::new(&args)?.api("metadata");
            let action = format!("listing {path}");
            let Some(response) = client.list(&path, &action).await? else {
                eprintln!("No value found at {path}/");
                return Ok(Outcome::Negative);
            };
            ctx.output.keys(&response)?;
        }
        KvCommand::Delete(args) => {
            let path = KvPath::new(&args)?.require_secret()?.api("data");
            client.delete(&path, &format!("deleting {path}")).await?;
            println(&format!("Success! Data deleted (if it existed) at: {path}"));
        }
        KvCommand::Metadata(MetadataCommand::Get(args)) => {
            let path = KvPath::new(&args)?.require_secret()?.api("metadata");
            let action = format!("reading {path}");
            let Some(response) = client.read(&path, &action).await? else {
                eprintln!("No value found at {path}");
                return Ok(Outcome::Negative);
            };
            show_versions(ctx, &path, &response)?;
        }
    }
    Ok(Outcome::Success)
}

fn put_body(args: &PutArgs) -> Result<Value, CliError> {
    let data = request_data::parse(&args.data, &mut std::io::stdin())?;
    let mut body = json!({ "data": data });
    if let (Some(map), Some(cas)) = (body.as_object_mut(), args.cas) {
        map.insert("options".into(), json!({ "cas": cas }));
    }
    Ok(body)
}

/// `kv get`: the secret's metadata and data tables under section banners; `-field` reads the
/// secret's own fields, not the envelope's.
fn show_secret(ctx: &Context, path: &str, response: &Value) -> Result<(), CliError> {
    let inner = response.get("data").cloned().unwrap_or(Value::Null);
    let fields = inner.get("data").cloned().unwrap_or(Value::Null);
    if ctx.output.field.is_some() {
        return ctx.output.secret(&json!({ "data": fields }));
    }
    if ctx.output.format == Format::Json {
        print(&format::json(response));
        return Ok(());
    }
    let sections = [
        Section::of("Metadata", inner.get("metadata")),
        Section::of("Data", Some(&fields)),
    ];
    print(&sectioned(path, &sections));
    Ok(())
}

/// `kv put`/`kv patch`: the new version's metadata.
fn show_metadata(ctx: &Context, path: &str, response: Option<Value>) -> Result<(), CliError> {
    let Some(response) = response else {
        println(&format!("Success! Data written to: {path}"));
        return Ok(());
    };
    if ctx.output.field.is_some() || ctx.output.format == Format::Json {
        return ctx.output.secret(&response);
    }
    print(&sectioned(
        path,
        &[Section::of("Metadata", response.get("data"))],
    ));
    Ok(())
}

/// `kv metadata get`: the secret's settings, then one table per version, oldest first.
fn show_versions(ctx: &Context, path: &str, response: &Value) -> Result<(), CliError> {
    if ctx.output.field.is_some() || ctx.output.format == Format::Json {
        return ctx.output.secret(response);
    }
    let mut settings = response
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let versions = settings.remove("versions");
    let mut sections = vec![Section {
        title: "Metadata".into(),
        rows: map_rows(&settings),
    }];
    if let Some(versions) = versions.as_ref().and_then(Value::as_object) {
        let mut numbers: Vec<(u64, &String)> = versions
            .keys()
            .map(|k| (k.parse::<u64>().unwrap_or(u64::MAX), k))
            .collect();
        numbers.sort();
        for (_, key) in numbers {
            sections.push(Section::of(&format!("Version {key}"), versions.get(key)));
        }
    }
    print(&sectioned_as("Metadata Path", path, &sections));
    Ok(())
}

/// One titled table of a KV answer.
#[derive(Debug)]
struct Section {
    title: String,
    rows: Vec<(String, String)>,
}

impl Section {
    fn of(title: &str, value: Option<&Value>) -> Self {
        let rows = value
            .and_then(Value::as_object)
            .map(map_rows)
            .unwrap_or_default();
        Section {
            title: title.to_string(),
            rows,
        }
    }

    /// Vault sizes a section's banner to its widest key plus the `    Value` column header.
    fn render(&self) -> String {
        let widest_key = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        format!(
            "{}\n{}",
            banner(&self.title, widest_key + 9),
            key_value_table(&self.rows)
        )
    }
}

/// Vault's layout: `== Secret Path ==` as wide as the path, the path, then each section.
fn sectioned(path: &str, sections: &[Section]) -> String {
    sectioned_as("Secret Path", path, sections)
}

fn sectioned_as(path_title: &str, path: &str, sections: &[Section]) -> String {
    let mut out = format!("{}\n{path}\n", banner(path_title, path.len()));
    for section in sections {
        out.push('\n');
        out.push_str(&section.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str, mount: Option<&str>) -> PathArgs {
        PathArgs {
            path: path.into(),
            mount: mount.map(str::to_string),
        }
    }

    #[test]
    fn first_segment_is_the_mount() {
        let path = KvPath::new(&target("secret/app/db", None)).unwrap();
        assert_eq!(path.api("data"), "secret/data/app/db");
        assert_eq!(path.api("metadata"), "secret/metadata/app/db");
    }

    #[test]
    fn explicit_mount_keeps_the_whole_path() {
        let path = KvPath::new(&target("/app/db/", Some("kv/"))).unwrap();
        assert_eq!(path.api("data"), "kv/data/app/db");
    }

    #[test]
    fn mount_alone_lists_its_root_but_cannot_be_read() {
        let path = KvPath::new(&target("secret/", None)).unwrap();
        assert_eq!(path.api("metadata"), "secret/metadata");
        assert!(path.require_secret().is_err());
        assert!(KvPath::new(&target("", None)).is_err());
    }

    #[test]
    fn put_body_wraps_data_and_cas() {
        let args = PutArgs {
            target: target("secret/a", None),
            data: vec!["k=v".into()],
            cas: Some(0),
        };
        assert_eq!(
            put_body(&args).unwrap(),
            json!({"data": {"k": "v"}, "options": {"cas": 0}})
        );
    }

    #[test]
    fn sections_look_like_vault_kv_get() {
        let metadata = json!({"created_time": "t", "custom_metadata": null, "version": 1});
        let data = json!({"passcode": "p"});
        let out = sectioned(
            "secret/data/creds",
            &[
                Section::of("Metadata", Some(&metadata)),
                Section::of("Data", Some(&data)),
            ],
        );
        assert_eq!(
            out,
            "== Secret Path ==\n\
             secret/data/creds\n\
             \n\
             ======= Metadata =======\n\
             Key                Value\n\
             ---                -----\n\
             created_time       t\n\
             custom_metadata    <nil>\n\
             version            1\n\
             \n\
             ====== Data ======\n\
             Key         Value\n\
             ---         -----\n\
             passcode    p\n"
        );
    }
}
