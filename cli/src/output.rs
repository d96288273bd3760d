//! Where command results go: stdout in the chosen format, or one raw field for `-field`.

use std::io::{IsTerminal, Write};

use serde_json::Value;

use crate::error::CliError;
use crate::format::{self, Format};

/// The output choices of one invocation.
#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    pub field: Option<String>,
}

impl Output {
    /// Prints a response envelope (`vault read` style): the table of its lease, auth and data,
    /// the whole JSON, or one field.
    pub fn secret(&self, response: &Value) -> Result<(), CliError> {
        if self.print_field(response)? {
            return Ok(());
        }
        match self.format {
            Format::Json => print(&format::json(response)),
            Format::Table => {
                print_warnings(response);
                let rows = format::secret_rows(response);
                if !rows.is_empty() {
                    print(&format::key_value_table(&rows));
                }
            }
        }
        Ok(())
    }

    /// Prints a response whose fields are at the top level (`sys/seal-status`, `sys/init`),
    /// using `rows` for the table.
    pub fn rows(&self, response: &Value, rows: &[(String, String)]) -> Result<(), CliError> {
        if self.print_field(response)? {
            return Ok(());
        }
        match self.format {
            Format::Json => print(&format::json(response)),
            Format::Table => print(&format::key_value_table(rows)),
        }
        Ok(())
    }

    /// Prints a LIST answer: `Keys` and one key a line, or the JSON array of keys.
    pub fn keys(&self, response: &Value) -> Result<(), CliError> {
        let keys = list_keys(response);
        match self.format {
            Format::Json => print(&format::json(&Value::from(keys))),
            Format::Table => print(&format::keys_table(&keys)),
        }
        Ok(())
    }

    /// Prints pre-rendered text for table format, or `json_value` for JSON format.
    pub fn text_or_json(&self, text: &str, json_value: &Value) -> Result<(), CliError> {
        if self.print_field(json_value)? {
            return Ok(());
        }
        match self.format {
            Format::Json => print(&format::json(json_value)),
            Format::Table => print(text),
        }
        Ok(())
    }

    /// `-field`: prints the field raw, with no newline when piped (vault does the same so that
    /// `$(lessor read -field=password …)` is exact). Returns whether a field was asked for.
    fn print_field(&self, response: &Value) -> Result<bool, CliError> {
        let Some(name) = &self.field else {
            return Ok(false);
        };
        let value = format::field(response, name).ok_or_else(|| {
            CliError::Input(format!("Field \"{name}\" not present in the response"))
        })?;
        let text = format::raw_field(value, self.format);
        if std::io::stdout().is_terminal() {
            print(&format!("{text}\n"));
        } else {
            print(&text);
        }
        Ok(true)
    }
}

/// The keys of a LIST answer (`data.keys`), empty when there are none.
pub fn list_keys(response: &Value) -> Vec<String> {
    response
        .get("data")
        .and_then(|d| d.get("keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .map(|k| k.as_str().map_or_else(|| k.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `text` to stdout as is. A closed pipe (`| head`) is not worth an error.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Prints a line to stdout.
pub fn println(text: &str) {
    print(&format!("{text}\n"));
}

fn print_warnings(response: &Value) {
    let warnings: Vec<&str> = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if warnings.is_empty() {
        return;
    }
    let mut text =
        String::from("WARNING! The following warnings were returned from the server:\n\n");
    for warning in warnings {
        text.push_str(&format!("  * {warning}\n"));
    }
    text.push('\n');
    print(&text);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_keys_reads_data_keys() {
        let response = json!({"data": {"keys": ["a", "b/"]}});
        assert_eq!(list_keys(&response), ["a", "b/"]);
        assert!(list_keys(&json!({"data": null})).is_empty());
    }
}
