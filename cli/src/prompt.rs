//! Hidden prompts for secrets the user did not put on the command line (unseal keys, tokens,
//! passwords), so they never land in shell history or `ps` output.

use crate::error::CliError;
use crate::sensitive::SecretText;

/// Asks for a secret without echoing it; an empty answer is an error.
pub fn secret(label: &str) -> Result<SecretText, CliError> {
    let answer = rpassword::prompt_password(format!("{label}: "))
        .map(SecretText::new)
        .map_err(|err| {
            CliError::Input(format!("Error reading {label} from the terminal: {err}"))
        })?;
    let trimmed = answer.expose().trim();
    if trimmed.is_empty() {
        return Err(CliError::Input(format!("{label} must not be empty")));
    }
    Ok(SecretText::new(trimmed.to_string()))
}

/// The secret given as an argument, or prompted for when it was not.
pub fn or_prompt(given: Option<String>, label: &str) -> Result<SecretText, CliError> {
    match given {
        Some(value) => Ok(SecretText::new(value)),
        None => secret(label),
    }
}
