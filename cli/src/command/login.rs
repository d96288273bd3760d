//! `lessor login`: authenticate, then keep the token in `~/.lessor-token` for later commands.
//!
//! `-method=token` (the default) checks the token with `auth/token/lookup-self` before storing
//! it. `-method=userpass` posts to `auth/<path>/login/<username>`; any other method posts its
//! `key=value` arguments to `auth/<path>/login` (e.g. kubernetes: `role=app jwt=@token`).
//! Secrets missing from the command line are prompted for without echo.

use clap::Args;
use serde_json::{Map, Value, json};

use super::{Context, Outcome};
use crate::client::Client;
use crate::error::CliError;
use crate::format::Format;
use crate::output::print;
use crate::prompt;
use crate::request_data;
use crate::sensitive::SecretText;
use crate::token_file;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The token (token method), or key=value fields for other methods
    pub args: Vec<String>,
    /// Auth method: token, userpass, kubernetes, …
    #[arg(long, default_value = "token")]
    pub method: String,
    /// Mount path of the auth method (defaults to the method name)
    #[arg(long)]
    pub path: Option<String>,
    /// Do not store the token in ~/.lessor-token
    #[arg(long)]
    pub no_store: bool,
}

pub async fn run(ctx: &Context, args: LoginArgs) -> Result<Outcome, CliError> {
    let client = ctx.anonymous_client()?;
    let (token, response) = match args.method.as_str() {
        "token" => login_with_token(&client, &args.args).await?,
        method => {
            let mount = args.path.as_deref().unwrap_or(method).trim_matches('/');
            login_with_method(&client, method, mount, &args.args).await?
        }
    };
    if !args.no_store {
        let home = ctx.env.home.as_deref();
        token_file::write(&token_file::path(home)?, &token)?;
    }
    if ctx.env.lessor_token.is_some() || ctx.env.vault_token.is_some() {
        eprintln!(
            "WARNING! A token is set in LESSOR_TOKEN or VAULT_TOKEN; it takes precedence over \
             the stored token. Unset it to use the token from this login."
        );
    }
    if ctx.output.field.is_none() && ctx.output.format == Format::Table {
        let stored = if args.no_store {
            "The token was not stored (-no-store)."
        } else {
            "The token is stored in ~/.lessor-token; future requests use it automatically."
        };
        print(&format!("Success! You are now authenticated. {stored}\n\n"));
    }
    ctx.output.secret(&response)?;
    Ok(Outcome::Success)
}

async fn login_with_token(
    client: &Client,
    args: &[String],
) -> Result<(SecretText, Value), CliError> {
    let given = match args {
        [] => None,
        [token] => Some(token.strip_prefix("token=").unwrap_or(token).to_string()),
        _ => {
            return Err(CliError::Usage(
                "The token method takes at most one argument, the token".into(),
            ));
        }
    };
    let token = prompt::or_prompt(given, "Token (will be hidden)")?;
    let lookup = client
        .with_token(token.clone())
        .read("auth/token/lookup-self", "verifying the token")
        .await?
        .ok_or_else(|| CliError::Input("The token could not be looked up".into()))?;
    let data = lookup.get("data").cloned().unwrap_or(Value::Null);
    Ok((token.clone(), auth_from_lookup(&token, &data)))
}

/// Presents a `lookup-self` answer as the `auth` block a login would have returned.
fn auth_from_lookup(token: &SecretText, data: &Value) -> Value {
    let policies = data.get("policies").cloned().unwrap_or(json!([]));
    json!({
        "auth": {
            "client_token": token.expose(),
            "accessor": data.get("accessor").cloned().unwrap_or(Value::Null),
            "lease_duration": data.get("ttl").and_then(Value::as_i64).unwrap_or(0),
            "renewable": data.get("renewable").and_then(Value::as_bool).unwrap_or(false),
            "policies": policies,
            "token_policies": policies,
            "identity_policies": data.get("identity_policies").cloned().unwrap_or(json!([])),
            "metadata": data.get("meta").cloned().unwrap_or(Value::Null),
        }
    })
}

async fn login_with_method(
    client: &Client,
    method: &str,
    mount: &str,
    args: &[String],
) -> Result<(SecretText, Value), CliError> {
    let mut body = request_data::parse(args, &mut std::io::stdin())?;
    let path = login_path(method, mount, &mut body)?;
    if method == "userpass" && !body.contains_key("password") {
        let password = prompt::secret("Password (will be hidden)")?;
        body.insert(
            "password".into(),
            Value::String(password.expose().to_string()),
        );
    }
    let action = format!("logging in with {method}");
    let response = client
        .write(&path, &Value::Object(body), &action)
        .await?
        .unwrap_or(Value::Null);
    let token = response
        .get("auth")
        .and_then(|a| a.get("client_token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CliError::Decode {
            action,
            detail: "the login answer carries no token".into(),
        })?;
    Ok((SecretText::new(token.to_string()), response))
}

/// The login endpoint for a method; userpass takes the username from the body into the path.
fn login_path(
    method: &str,
    mount: &str,
    body: &mut Map<String, Value>,
) -> Result<String, CliError> {
    if method != "userpass" {
        return Ok(format!("auth/{mount}/login"));
    }
    match body.remove("username") {
        Some(Value::String(username)) if !username.is_empty() && !username.contains('/') => {
            Ok(format!("auth/{mount}/login/{username}"))
        }
        _ => Err(CliError::Usage(
            "userpass login needs username=NAME (the password is prompted for)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_becomes_an_auth_block() {
        let token = SecretText::new("hvs.abc".into());
        let data = json!({"accessor": "acc", "ttl": 3600, "renewable": true,
            "policies": ["default", "app"], "meta": {"user": "op"}});
        let auth = auth_from_lookup(&token, &data);
        assert_eq!(auth["auth"]["client_token"], json!("hvs.abc"));
        assert_eq!(auth["auth"]["lease_duration"], json!(3600));
        assert_eq!(auth["auth"]["token_policies"], json!(["default", "app"]));
        assert_eq!(auth["auth"]["identity_policies"], json!([]));
    }

    #[test]
    fn userpass_login_path_takes_the_username_out_of_the_body() {
        let mut body = Map::new();
        body.insert("username".into(), json!("alice"));
        body.insert("password".into(), json!("pw"));
        assert_eq!(
            login_path("userpass", "userpass", &mut body).unwrap(),
            "auth/userpass/login/alice"
        );
        assert!(!body.contains_key("username"));
        assert!(login_path("userpass", "up", &mut Map::new()).is_err());
    }

    #[test]
    fn other_methods_post_to_login_under_their_mount() {
        let mut body = Map::new();
        body.insert("role".into(), json!("app"));
        assert_eq!(
            login_path("kubernetes", "k8s-prod", &mut body).unwrap(),
            "auth/k8s-prod/login"
        );
        assert_eq!(body.len(), 1);
    }
}
