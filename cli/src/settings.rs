//! Where the CLI talks to and how: address, token, output format and TLS options.
//!
//! Each setting comes from its flag, then `LESSOR_*`, then the matching `VAULT_*` variable (so
//! scripts written for the `vault` CLI keep working), then a default. Resolution is a pure
//! function of the flag values and an [`EnvVars`] snapshot, so tests never touch the process
//! environment.

use std::path::PathBuf;

use crate::error::CliError;
use crate::format::Format;
use crate::sensitive::SecretText;

/// Where the broker listens when nothing says otherwise. Plain HTTP because that is what
/// `lessor server -dev` serves; a production address is always set explicitly.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8200";

/// The environment variables the CLI reads, captured once.
#[derive(Debug, Default, Clone)]
pub struct EnvVars {
    pub lessor_addr: Option<String>,
    pub vault_addr: Option<String>,
    pub lessor_token: Option<SecretText>,
    pub vault_token: Option<SecretText>,
    pub lessor_format: Option<String>,
    pub vault_format: Option<String>,
    pub lessor_cacert: Option<String>,
    pub vault_cacert: Option<String>,
    pub lessor_skip_verify: Option<String>,
    pub vault_skip_verify: Option<String>,
    pub home: Option<String>,
}

impl EnvVars {
    /// Reads the variables from the running process. Empty values count as unset, like vault.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        EnvVars {
            lessor_addr: var("LESSOR_ADDR"),
            vault_addr: var("VAULT_ADDR"),
            lessor_token: var("LESSOR_TOKEN").map(SecretText::new),
            vault_token: var("VAULT_TOKEN").map(SecretText::new),
            lessor_format: var("LESSOR_FORMAT"),
            vault_format: var("VAULT_FORMAT"),
            lessor_cacert: var("LESSOR_CACERT"),
            vault_cacert: var("VAULT_CACERT"),
            lessor_skip_verify: var("LESSOR_SKIP_VERIFY"),
            vault_skip_verify: var("VAULT_SKIP_VERIFY"),
            home: var("HOME"),
        }
    }
}

/// What the global flags said, before the environment is consulted.
#[derive(Debug, Default, Clone)]
pub struct GlobalFlags {
    pub address: Option<String>,
    pub format: Option<Format>,
    pub field: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub tls_skip_verify: bool,
}

/// The resolved connection and output settings every client command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub address: String,
    pub format: Format,
    pub field: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub tls_skip_verify: bool,
}

impl Settings {
    pub fn resolve(flags: &GlobalFlags, env: &EnvVars) -> Result<Self, CliError> {
        let address = flags
            .address
            .clone()
            .or_else(|| first(&env.lessor_addr, &env.vault_addr))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        let format = match flags.format {
            Some(format) => format,
            None => match first(&env.lessor_format, &env.vault_format) {
                Some(text) => Format::parse(&text).ok_or_else(|| {
                    CliError::Input(format!(
                        "Invalid output format {text:?} in the environment: use table or json"
                    ))
                })?,
                None => Format::Table,
            },
        };
        let ca_cert = flags
            .ca_cert
            .clone()
            .or_else(|| first(&env.lessor_cacert, &env.vault_cacert).map(PathBuf::from));
        let tls_skip_verify = flags.tls_skip_verify
            || first(&env.lessor_skip_verify, &env.vault_skip_verify)
                .is_some_and(|v| is_truthy(&v));
        Ok(Settings {
            address,
            format,
            field: flags.field.clone(),
            ca_cert,
            tls_skip_verify,
        })
    }
}

/// Where the token for a request came from; `None` when there is none at all.
pub fn resolve_token(
    env: &EnvVars,
    token_file: impl FnOnce() -> Result<Option<SecretText>, CliError>,
) -> Result<Option<SecretText>, CliError> {
    if let Some(token) = env.lessor_token.as_ref().or(env.vault_token.as_ref()) {
        return Ok(Some(token.clone()));
    }
    token_file()
}

fn first(preferred: &Option<String>, fallback: &Option<String>) -> Option<String> {
    preferred.clone().or_else(|| fallback.clone())
}

/// Vault parses `VAULT_SKIP_VERIFY` with Go's `strconv.ParseBool`.
fn is_truthy(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn address_prefers_flag_then_lessor_then_vault_then_default() {
        let env = EnvVars {
            lessor_addr: some("http://lessor:8200"),
            vault_addr: some("http://vault:8200"),
            ..EnvVars::default()
        };
        let flags = GlobalFlags {
            address: some("http://flag:8200"),
            ..GlobalFlags::default()
        };
        let resolve =
            |flags: &GlobalFlags, env: &EnvVars| Settings::resolve(flags, env).unwrap().address;
        assert_eq!(resolve(&flags, &env), "http://flag:8200");
        assert_eq!(resolve(&GlobalFlags::default(), &env), "http://lessor:8200");
        let vault_only = EnvVars {
            vault_addr: some("http://vault:8200"),
            ..EnvVars::default()
        };
        assert_eq!(
            resolve(&GlobalFlags::default(), &vault_only),
            "http://vault:8200"
        );
        assert_eq!(
            resolve(&GlobalFlags::default(), &EnvVars::default()),
            DEFAULT_ADDRESS
        );
    }

    #[test]
    fn format_comes_from_flag_then_environment() {
        let env = EnvVars {
            lessor_format: some("json"),
            vault_format: some("table"),
            ..EnvVars::default()
        };
        let resolved = Settings::resolve(&GlobalFlags::default(), &env).unwrap();
        assert_eq!(resolved.format, Format::Json);
        let flags = GlobalFlags {
            format: Some(Format::Table),
            ..GlobalFlags::default()
        };
        assert_eq!(
            Settings::resolve(&flags, &env).unwrap().format,
            Format::Table
        );
        let vault_only = EnvVars {
            vault_format: some("json"),
            ..EnvVars::default()
        };
        let resolved = Settings::resolve(&GlobalFlags::default(), &vault_only).unwrap();
        assert_eq!(resolved.format, Format::Json);
    }

    #[test]
    fn unknown_format_in_the_environment_is_an_error() {
        let env = EnvVars {
            lessor_format: some("yaml"),
            ..EnvVars::default()
        };
        assert!(Settings::resolve(&GlobalFlags::default(), &env).is_err());
    }

    #[test]
    fn tls_settings_fall_back_to_vault_variables() {
        let env = EnvVars {
            vault_cacert: some("/etc/ca.pem"),
            vault_skip_verify: some("true"),
            ..EnvVars::default()
        };
        let resolved = Settings::resolve(&GlobalFlags::default(), &env).unwrap();
        assert_eq!(resolved.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert!(resolved.tls_skip_verify);
        let env = EnvVars {
            lessor_skip_verify: some("false"),
            vault_skip_verify: some("true"),
            ..EnvVars::default()
        };
        let resolved = Settings::resolve(&GlobalFlags::default(), &env).unwrap();
        assert!(
            !resolved.tls_skip_verify,
            "LESSOR_SKIP_VERIFY wins over VAULT_SKIP_VERIFY"
        );
    }

    #[test]
    fn token_prefers_lessor_then_vault_then_file() {
        let from_file = || Ok(Some(SecretText::new("file-token".into())));
        let env = EnvVars {
            lessor_token: Some(SecretText::new("lessor-token".into())),
            vault_token: Some(SecretText::new("vault-token".into())),
            ..EnvVars::default()
        };
        let token = resolve_token(&env, from_file).unwrap().unwrap();
        assert_eq!(token.expose(), "lessor-token");
        let env = EnvVars {
            vault_token: Some(SecretText::new("vault-token".into())),
            ..EnvVars::default()
        };
        let token = resolve_token(&env, from_file).unwrap().unwrap();
        assert_eq!(token.expose(), "vault-token");
        let token = resolve_token(&EnvVars::default(), from_file)
            .unwrap()
            .unwrap();
        assert_eq!(token.expose(), "file-token");
        assert!(
            resolve_token(&EnvVars::default(), || Ok(None))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn env_token_does_not_read_the_file() {
        let env = EnvVars {
            lessor_token: Some(SecretText::new("t".into())),
            ..EnvVars::default()
        };
        let token = resolve_token(&env, || Err(CliError::Input("must not be read".into())));
        assert!(token.is_ok());
    }
}
