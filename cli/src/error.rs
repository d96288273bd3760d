//! The CLI's error type and the exit code each kind maps to.
//!
//! Messages here are printed to the terminal as they are, so none of them may carry a token,
//! an unseal key or a secret value: they name the operation, the path and the broker's own
//! error strings (which the broker already keeps free of secrets).

use std::path::PathBuf;

/// Everything a command can fail with after its arguments parsed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The broker answered with an error status.
    #[error("Error {action}: {}", describe_api_errors(*.status, .errors))]
    Api {
        action: String,
        status: u16,
        errors: Vec<String>,
    },
    /// The broker could not be reached or the exchange broke off.
    #[error("Error {action}: talking to {address} failed: {}", error_chain(.source))]
    Transport {
        action: String,
        address: String,
        #[source]
        source: reqwest::Error,
    },
    /// The broker answered with something that is not the Vault-dialect JSON we expect.
    #[error("Error {action}: unexpected response from the server: {detail}")]
    Decode { action: String, detail: String },
    /// The arguments were well-formed for clap but do not make a valid request (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The user's input (arguments, files, stdin) was not usable.
    #[error("{0}")]
    Input(String),
    /// A file could not be read or written.
    #[error("{action} {}: {source}", .path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The client could not be set up (bad address, unreadable CA certificate, …).
    #[error("{0}")]
    Setup(String),
    /// The embedded server failed.
    #[error("Error running the server: {0:#}")]
    Server(anyhow::Error),
}

impl CliError {
    /// The process exit code: 2 for usage errors, as clap uses for its own, 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// reqwest's own message ("error sending request") hides the cause; the chain names it
/// ("Connection refused", "invalid peer certificate").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

fn describe_api_errors(status: u16, errors: &[String]) -> String {
    let joined = errors
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if joined.is_empty() {
        format!("the server answered HTTP {status}")
    } else {
        format!("{joined} (HTTP {status})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_joins_the_brokers_errors_and_names_the_code() {
        let err = CliError::Api {
            action: "reading secret/foo".into(),
            status: 403,
            errors: vec!["permission denied".into(), "2 errors occurred".into()],
        };
        assert_eq!(
            err.to_string(),
            "Error reading secret/foo: permission denied; 2 errors occurred (HTTP 403)"
        );
    }

    #[test]
    fn usage_errors_exit_2_and_everything_else_1() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Input("x".into()).exit_code(), 1);
    }

    #[test]
    fn api_error_without_messages_still_says_what_happened() {
        let err = CliError::Api {
            action: "sealing".into(),
            status: 503,
            errors: vec![" ".into()],
        };
        assert_eq!(
            err.to_string(),
            "Error sealing: the server answered HTTP 503"
        );
    }
}
