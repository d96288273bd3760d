//! `lessor operator …`: init, unseal, seal, rekey and rotate: the seal lifecycle.
//!
//! Unseal key shares are read from a hidden prompt when not given; they and the root token are
//! printed only where vault prints them (the init and rekey results), never in errors.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::status::seal_status_rows;
use super::{Context, Outcome};
use crate::error::CliError;
use crate::format::{self, cell};
use crate::output::println;
use crate::prompt;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Initialise the broker: create the unseal key shares and the root token
    Init(InitArgs),
    /// Provide one unseal key share
    Unseal(UnsealArgs),
    /// Seal the broker: drop every key from memory
    Seal,
    /// Replace the unseal key shares (and optionally their number and threshold)
    Rekey(RekeyArgs),
    /// Add a new encryption key term to the keyring
    Rotate,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Number of unseal key shares to create
    #[arg(long, default_value_t = 5)]
    pub key_shares: u32,
    /// Number of shares needed to unseal
    #[arg(long, default_value_t = 3)]
    pub key_threshold: u32,
    /// Only report whether the broker is initialised (exit code 2 when not)
    #[arg(long)]
    pub status: bool,
}

#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// The key share; prompted for (hidden) when omitted
    pub key: Option<String>,
    /// Discard the shares given so far
    #[arg(long)]
    pub reset: bool,
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// A current key share; prompted for (hidden) when omitted
    pub key: Option<String>,
    /// Start a rekey
    #[arg(long, conflicts_with_all = ["cancel", "status"])]
    pub init: bool,
    /// Cancel the rekey in progress
    #[arg(long, conflicts_with = "status")]
    pub cancel: bool,
    /// Show the rekey progress
    #[arg(long)]
    pub status: bool,
    /// Nonce of the rekey in progress (looked up when omitted)
    #[arg(long)]
    pub nonce: Option<String>,
    /// Number of new key shares (with -init)
    #[arg(long, default_value_t = 5)]
    pub key_shares: u32,
    /// Number of new shares needed to unseal (with -init)
    #[arg(long, default_value_t = 3)]
    pub key_threshold: u32,
}

pub async fn run(ctx: &Context, command: OperatorCommand) -> Result<Outcome, CliError> {
    match command {
        OperatorCommand::Init(args) => init(ctx, args).await,
        OperatorCommand::Unseal(args) => unseal(ctx, args).await,
        OperatorCommand::Seal => {
            ctx.client()?
                .write("sys/seal", &json!({}), "sealing")
                .await?;
            println("Success! Lessor is sealed.");
            Ok(Outcome::Success)
        }
        OperatorCommand::Rekey(args) => rekey(ctx, args).await,
        OperatorCommand::Rotate => rotate(ctx).await,
    }
}

async fn init(ctx: &Context, args: InitArgs) -> Result<Outcome, CliError> {
    let client = ctx.anonymous_client()?;
    if args.status {
        let answer = client
            .read("sys/init", "checking initialization status")
            .await?
            .unwrap_or(Value::Null);
        let initialized = answer
            .get("initialized")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let text = if initialized {
            "Lessor is initialized"
        } else {
            "Lessor is not initialized"
        };
        ctx.output.text_or_json(&format!("{text}\n"), &answer)?;
        return Ok(if initialized {
            Outcome::Success
        } else {
            Outcome::Negative
        });
    }
    if args.key_threshold == 0 || args.key_threshold > args.key_shares {
        return Err(CliError::Usage(
            "-key-threshold must be between 1 and -key-shares".into(),
        ));
    }
    let request = json!({
        "secret_shares": args.key_shares,
        "secret_threshold": args.key_threshold,
    });
    let answer = client
        .write("sys/init", &request, "initializing")
        .await?
        .unwrap_or(Value::Null);
    let shares = key_shares(&answer);
    let root_token = answer
        .get("root_token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut text = String::new();
    for (index, share) in shares.iter().enumerate() {
        text.push_str(&format!("Unseal Key {}: {share}\n", index + 1));
    }
    text.push_str(&format!("\nInitial Root Token: {root_token}\n\n"));
    text.push_str(&init_notice(args.key_shares, args.key_threshold));
    let json_view = json!({
        "unseal_keys_b64": answer.get("keys_base64").cloned().unwrap_or(json!([])),
        "unseal_keys_hex": answer.get("keys").cloned().unwrap_or(json!([])),
        "unseal_shares": args.key_shares,
        "unseal_threshold": args.key_threshold,
        "root_token": root_token,
    });
    ctx.output.text_or_json(&text, &json_view)?;
    Ok(Outcome::Success)
}

fn init_notice(shares: u32, threshold: u32) -> String {
    format!(
        "Lessor initialized with {shares} key shares and a key threshold of {threshold}. Please\n\
         securely distribute the key shares printed above. When Lessor is re-sealed,\n\
         restarted, or stopped, you must supply at least {threshold} of these keys to unseal it\n\
         before it can start servicing requests.\n\n\
         Lessor does not store the generated root key. Without at least {threshold} keys to\n\
         reconstruct the root key, Lessor will remain permanently sealed!\n\n\
         It is possible to generate new unseal keys, provided you have a quorum of\n\
         existing unseal keys shares. See \"lessor operator rekey\" for more information.\n"
    )
}

/// The shares to show: base64 like vault, or hex when the server sent only that.
fn key_shares(answer: &Value) -> Vec<String> {
    let strings = |key: &str| -> Vec<String> {
        answer
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let base64 = strings("keys_base64");
    if base64.is_empty() {
        strings("keys")
    } else {
        base64
    }
}

async fn unseal(ctx: &Context, args: UnsealArgs) -> Result<Outcome, CliError> {
    let client = ctx.anonymous_client()?;
    let request = if args.reset {
        json!({ "reset": true })
    } else {
        let key = prompt::or_prompt(args.key, "Unseal Key (will be hidden)")?;
        json!({ "key": key.expose() })
    };
    let status = client
        .write("sys/unseal", &request, "unsealing")
        .await?
        .unwrap_or(Value::Null);
    ctx.output.rows(&status, &seal_status_rows(&status))?;
    Ok(Outcome::Success)
}

async fn rekey(ctx: &Context, args: RekeyArgs) -> Result<Outcome, CliError> {
    let client = ctx.anonymous_client()?;
    if args.cancel {
        client.delete("sys/rekey/init", "canceling rekey").await?;
        println("Success! Canceled rekeying (if it was started)");
        return Ok(Outcome::Success);
    }
    if args.status || args.init {
        let answer = if args.init {
            let request = json!({
                "secret_shares": args.key_shares,
                "secret_threshold": args.key_threshold,
            });
            client
                .write("sys/rekey/init", &request, "initializing rekey")
                .await?
        } else {
            client
                .read("sys/rekey/init", "reading rekey status")
                .await?
        }
        .unwrap_or(Value::Null);
        ctx.output.rows(&answer, &rekey_status_rows(&answer))?;
        return Ok(Outcome::Success);
    }
    let nonce = match args.nonce {
        Some(nonce) => nonce,
        None => current_nonce(ctx).await?,
    };
    let key = prompt::or_prompt(args.key, "Unseal Key (will be hidden)")?;
    let request = json!({ "key": key.expose(), "nonce": nonce });
    let answer = client
        .write("sys/rekey/update", &request, "providing a rekey key share")
        .await?
        .unwrap_or(Value::Null);
    if answer.get("complete").and_then(Value::as_bool) == Some(true) {
        let shares = key_shares(&answer);
        let mut text = String::new();
        for (index, share) in shares.iter().enumerate() {
            text.push_str(&format!("Key {}: {share}\n", index + 1));
        }
        text.push_str(&format!(
            "\nOperation nonce: {}\n\n",
            cell(&answer, "nonce")
        ));
        text.push_str(&format!(
            "Lessor rekeyed with {} key shares. Please securely distribute the key shares\n\
             printed above: the previous shares no longer unseal Lessor.\n",
            shares.len()
        ));
        ctx.output.text_or_json(&text, &answer)?;
    } else {
        ctx.output.rows(&answer, &rekey_status_rows(&answer))?;
    }
    Ok(Outcome::Success)
}

async fn current_nonce(ctx: &Context) -> Result<String, CliError> {
    let status = ctx
        .anonymous_client()?
        .read("sys/rekey/init", "reading rekey status")
        .await?
        .unwrap_or(Value::Null);
    let started = status
        .get("started")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match status.get("nonce").and_then(Value::as_str) {
        Some(nonce) if started && !nonce.is_empty() => Ok(nonce.to_string()),
        _ => Err(CliError::Usage(
            "No rekey is in progress: start one with `lessor operator rekey -init`".into(),
        )),
    }
}

/// The rows vault shows for `sys/rekey/init` status answers.
fn rekey_status_rows(status: &Value) -> Vec<(String, String)> {
    vec![
        ("Nonce".to_string(), cell(status, "nonce")),
        ("Started".to_string(), cell(status, "started")),
        (
            "Rekey Progress".to_string(),
            format!("{}/{}", cell(status, "progress"), cell(status, "required")),
        ),
        ("New Shares".to_string(), cell(status, "n")),
        ("New Threshold".to_string(), cell(status, "t")),
        (
            "Verification Required".to_string(),
            cell(status, "verification_required"),
        ),
    ]
}

async fn rotate(ctx: &Context) -> Result<Outcome, CliError> {
    let client = ctx.client()?;
    client
        .post("sys/rotate", None, "rotating the encryption key")
        .await?;
    // The new term is informative only; a broker without sys/key-status still rotated.
    let key_status = client.read("sys/key-status", "reading key status").await;
    match key_status {
        Ok(Some(status)) => {
            let data = status
                .get("data")
                .filter(|d| d.is_object())
                .unwrap_or(&status);
            let rows = vec![
                ("Key Term".to_string(), cell(data, "term")),
                ("Install Time".to_string(), cell(data, "install_time")),
            ];
            let text = format!("Success! Rotated key\n\n{}", format::key_value_table(&rows));
            ctx.output.text_or_json(&text, &status)?;
        }
        _ => println("Success! Rotated key"),
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_prefer_base64_and_fall_back_to_hex() {
        let both = json!({"keys": ["aa"], "keys_base64": ["qg=="]});
        assert_eq!(key_shares(&both), ["qg=="]);
        assert_eq!(key_shares(&json!({"keys": ["aa", "bb"]})), ["aa", "bb"]);
        assert!(key_shares(&json!({})).is_empty());
    }

    #[test]
    fn rekey_status_rows_show_progress_against_required() {
        let rows = rekey_status_rows(&json!({
            "nonce": "n-1", "started": true, "progress": 1, "required": 3, "n": 5, "t": 3,
            "verification_required": false
        }));
        assert_eq!(rows[2], ("Rekey Progress".to_string(), "1/3".to_string()));
        assert_eq!(rows[0].1, "n-1");
    }

    #[test]
    fn init_notice_names_the_threshold() {
        let notice = init_notice(5, 3);
        assert!(
            notice.starts_with("Lessor initialized with 5 key shares and a key threshold of 3.")
        );
        assert!(notice.contains("at least 3 of these keys"));
    }
}
