//! `lessor token create|lookup|renew|revoke`: the token store at `auth/token/*`.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::{Context, Outcome};
use crate::error::CliError;
use crate::output::println;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a child token (or an orphan with -orphan)
    Create(CreateArgs),
    /// Show a token's properties (your own when none is given)
    Lookup(LookupArgs),
    /// Extend a token's TTL (your own when none is given)
    Renew(RenewArgs),
    /// Revoke a token and its children
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Policy to attach (repeatable)
    #[arg(long = "policy", value_name = "NAME")]
    pub policies: Vec<String>,
    /// Initial TTL, e.g. 1h
    #[arg(long)]
    pub ttl: Option<String>,
    /// Hard limit on the token's lifetime
    #[arg(long)]
    pub explicit_max_ttl: Option<String>,
    /// Make a periodic token renewed by this period
    #[arg(long)]
    pub period: Option<String>,
    /// Number of uses before the token is revoked (0 = unlimited)
    #[arg(long)]
    pub use_limit: Option<u64>,
    /// Create a token with no parent
    #[arg(long)]
    pub orphan: bool,
    /// Whether the token can be renewed (-renewable=false to forbid)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub renewable: Option<bool>,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Metadata, key=value (repeatable)
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Do not attach the default policy
    #[arg(long)]
    pub no_default_policy: bool,
    /// Token type: service or batch
    #[arg(long = "type", value_name = "TYPE")]
    pub token_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// The token, or with -accessor its accessor
    pub token: Option<String>,
    /// Treat the argument as an accessor
    #[arg(long)]
    pub accessor: bool,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    pub token: Option<String>,
    /// Requested extension, e.g. 1h
    #[arg(long)]
    pub increment: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token, or with -accessor its accessor
    pub token: Option<String>,
    /// Treat the argument as an accessor
    #[arg(long)]
    pub accessor: bool,
    /// Revoke the token in use
    #[arg(long = "self", conflicts_with_all = ["token", "accessor"])]
    pub revoke_self: bool,
}

pub async fn run(ctx: &Context, command: TokenCommand) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    match command {
        TokenCommand::Create(args) => {
            let body = create_body(&args)?;
            let response = client
                .post("auth/token/create", Some(&body), "creating token")
                .await?
                .unwrap_or(Value::Null);
            ctx.output.secret(&response)?;
        }
        TokenCommand::Lookup(args) => {
            let response = match (args.token, args.accessor) {
                (None, true) => return Err(CliError::Usage("-accessor needs an accessor".into())),
                (None, false) => {
                    client
                        .read("auth/token/lookup-self", "looking up token")
                        .await?
                }
                (Some(accessor), true) => {
                    let body = json!({ "accessor": accessor });
                    client
                        .write("auth/token/lookup-accessor", &body, "looking up token")
                        .await?
                }
                (Some(token), false) => {
                    let body = json!({ "token": token });
                    client
                        .write("auth/token/lookup", &body, "looking up token")
                        .await?
                }
            };
            ctx.output.secret(&response.unwrap_or(Value::Null))?;
        }
        TokenCommand::Renew(args) => {
            let mut body = Map::new();
            if let Some(increment) = args.increment {
                body.insert("increment".into(), duration_value(&increment));
            }
            let path = match args.token {
                Some(token) => {
                    body.insert("token".into(), Value::String(token));
                    "auth/token/renew"
                }
                None => "auth/token/renew-self",
            };
            let response = client
                .write(path, &Value::Object(body), "renewing token")
                .await?
                .unwrap_or(Value::Null);
            ctx.output.secret(&response)?;
        }
        TokenCommand::Revoke(args) => {
            let (path, body) = match (args.revoke_self, args.token, args.accessor) {
                (true, _, _) => ("auth/token/revoke-self", json!({})),
                (false, Some(accessor), true) => (
                    "auth/token/revoke-accessor",
                    json!({ "accessor": accessor }),
                ),
                (false, Some(token), false) => ("auth/token/revoke", json!({ "token": token })),
                (false, None, _) => {
                    return Err(CliError::Usage(
                        "Give a token, -accessor ACCESSOR, or -self".into(),
                    ));
                }
            };
            client.write(path, &body, "revoking token").await?;
            println("Success! Revoked token (if it existed)");
        }
    }
    Ok(Outcome::Success)
}

/// The `auth/token/create` body: only what was asked for, so the broker's defaults apply.
fn create_body(args: &CreateArgs) -> Result<Value, CliError> {
    let mut body = Map::new();
    let policies: Vec<Value> = args
        .policies
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.to_string()))
        .collect();
    if !policies.is_empty() {
        body.insert("policies".into(), Value::Array(policies));
    }
    for (key, value) in [
        ("ttl", &args.ttl),
        ("explicit_max_ttl", &args.explicit_max_ttl),
        ("period", &args.period),
        ("display_name", &args.display_name),
        ("type", &args.token_type),
    ] {
        if let Some(value) = value {
            body.insert(key.into(), Value::String(value.clone()));
        }
    }
    if let Some(uses) = args.use_limit {
        body.insert("num_uses".into(), Value::from(uses));
    }
    if args.orphan {
        body.insert("no_parent".into(), Value::Bool(true));
    }
    if let Some(renewable) = args.renewable {
        body.insert("renewable".into(), Value::Bool(renewable));
    }
    if args.no_default_policy {
        body.insert("no_default_policy".into(), Value::Bool(true));
    }
    if !args.metadata.is_empty() {
        let mut meta = Map::new();
        for pair in &args.metadata {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Usage("-metadata must be key=value".into()))?;
            meta.insert(key.to_string(), Value::String(value.to_string()));
        }
        body.insert("meta".into(), Value::Object(meta));
    }
    Ok(Value::Object(body))
}

/// `3600` goes as a number, `1h` as the string the broker parses.
pub(super) fn duration_value(text: &str) -> Value {
    text.parse::<u64>()
        .map_or_else(|_| Value::String(text.to_string()), Value::from)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(flatten)]
        args: CreateArgs,
    }

    fn create(words: &[&str]) -> Value {
        let argv = std::iter::once("create").chain(words.iter().copied());
        let parsed = Harness::try_parse_from(argv).unwrap();
        create_body(&parsed.args).unwrap()
    }

    #[test]
    fn create_body_carries_only_given_fields() {
        assert_eq!(create(&[]), json!({}));
        assert_eq!(
            create(&[
                "--policy=a,b",
                "--policy",
                "c",
                "--ttl=1h",
                "--use-limit=3",
                "--orphan",
                "--renewable=false",
                "--metadata",
                "team=x=y",
                "--display-name=ci"
            ]),
            json!({
                "policies": ["a", "b", "c"], "ttl": "1h", "num_uses": 3, "no_parent": true,
                "renewable": false, "meta": {"team": "x=y"}, "display_name": "ci"
            })
        );
    }

    #[test]
    fn bare_renewable_means_true() {
        assert_eq!(create(&["--renewable"]), json!({"renewable": true}));
    }

    #[test]
    fn metadata_without_equals_is_rejected() {
        let parsed = Harness::try_parse_from(["create", "--metadata", "oops"]).unwrap();
        assert!(matches!(create_body(&parsed.args), Err(CliError::Usage(_))));
    }

    #[test]
    fn durations_are_numbers_when_numeric() {
        assert_eq!(duration_value("3600"), json!(3600));
        assert_eq!(duration_value("1h"), json!("1h"));
    }
}
