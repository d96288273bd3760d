//! Request bodies from `key=value` arguments, the way the `vault` CLI builds them.
//!
//! Each argument is one of:
//! - `key=value`: a string field (`=` inside the value is kept: only the first `=` splits);
//! - `key=@path`: the field's value is the contents of the file at `path`;
//! - `key=\@text`: a literal value starting with `@`;
//! - `key=-`: the field's value is all of stdin;
//! - `-`: stdin holds a JSON object whose fields are merged in;
//! - `@path`: the file at `path` holds a JSON object whose fields are merged in.
//!
//! A key given twice becomes a list of its values, as in vault (`policies=a policies=b`).
//! Error messages name the argument's position, never its text, which may be a secret.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;

/// Builds the JSON object for `args`, reading stdin only if an argument asks for it.
pub fn parse(args: &[String], stdin: &mut dyn Read) -> Result<Map<String, Value>, CliError> {
    let mut builder = Builder {
        stdin,
        stdin_used: false,
        result: Map::new(),
    };
    for (index, arg) in args.iter().enumerate() {
        builder.add(index + 1, arg)?;
    }
    Ok(builder.result)
}

struct Builder<'a> {
    stdin: &'a mut dyn Read,
    stdin_used: bool,
    result: Map<String, Value>,
}

impl Builder<'_> {
    fn add(&mut self, position: usize, arg: &str) -> Result<(), CliError> {
        if arg.is_empty() {
            return Ok(());
        }
        let Some((key, value)) = arg.split_once('=') else {
            return self.add_whole_object(position, arg);
        };
        if key.is_empty() {
            return Err(CliError::Input(format!(
                "Argument {position} has an empty key: use key=value"
            )));
        }
        let value = if let Some(file) = value.strip_prefix('@') {
            read_file(file)?
        } else if let Some(literal) = value.strip_prefix('\\').filter(|v| v.starts_with('@')) {
            literal.to_string()
        } else if value == "-" {
            self.read_stdin()?
        } else {
            value.to_string()
        };
        self.insert(key, Value::String(value));
        Ok(())
    }

    fn add_whole_object(&mut self, position: usize, arg: &str) -> Result<(), CliError> {
        let (text, source) = if arg == "-" {
            (self.read_stdin()?, "stdin".to_string())
        } else if let Some(file) = arg.strip_prefix('@') {
            (read_file(file)?, format!("file {file}"))
        } else {
            return Err(CliError::Input(format!(
                "Argument {position} must be key=value, key=@file, - or @file"
            )));
        };
        let parsed: Value = serde_json::from_str(&text).map_err(|err| {
            CliError::Input(format!(
                "Failed to parse JSON from {source}: {}",
                json_error_position(&err)
            ))
        })?;
        let Value::Object(fields) = parsed else {
            return Err(CliError::Input(format!(
                "The JSON from {source} must be an object"
            )));
        };
        for (key, value) in fields {
            self.result.insert(key, value);
        }
        Ok(())
    }

    fn insert(&mut self, key: &str, value: Value) {
        match self.result.get_mut(key) {
            Some(Value::Array(existing)) => existing.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                self.result.insert(key.to_string(), value);
            }
        }
    }

    fn read_stdin(&mut self) -> Result<String, CliError> {
        if self.stdin_used {
            return Err(CliError::Input(
                "stdin can be read only once (by one `-` argument)".into(),
            ));
        }
        self.stdin_used = true;
        let mut text = String::new();
        self.stdin
            .read_to_string(&mut text)
            .map_err(|err| CliError::Input(format!("Error reading stdin: {err}")))?;
        Ok(text)
    }
}

fn read_file(path: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::File {
        action: "Error reading file",
        path: Path::new(path).to_path_buf(),
        source,
    })
}

/// serde_json's message can quote the offending input; keep only where it went wrong.
fn json_error_position(err: &serde_json::Error) -> String {
    format!(
        "invalid JSON at line {} column {}",
        err.line(),
        err.column()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_string()).collect()
    }

    fn parse_with(words: &[&str], stdin: &str) -> Result<Value, CliError> {
        parse(&args(words), &mut stdin.as_bytes()).map(Value::Object)
    }

    #[test]
    fn key_value_pairs_keep_equals_signs_in_values() {
        let data = parse_with(&["user=app", "dsn=host=db port=5432", "empty="], "").unwrap();
        assert_eq!(
            data,
            json!({"user": "app", "dsn": "host=db port=5432", "empty": ""})
        );
    }

    #[test]
    fn missing_equals_is_an_error_that_does_not_echo_the_argument() {
        let err = parse_with(&["ok=1", "hunter2"], "").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("Argument 2"), "{message}");
        assert!(!message.contains("hunter2"));
        assert!(parse_with(&["=value"], "").is_err());
    }

    #[test]
    fn at_file_reads_the_file_contents() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.hcl");
        std::fs::write(&file, "path \"*\" {}\n").unwrap();
        let arg = format!("policy=@{}", file.display());
        let data = parse(&[arg], &mut "".as_bytes()).unwrap();
        assert_eq!(data["policy"], json!("path \"*\" {}\n"));
    }

    #[test]
    fn unreadable_file_is_an_error_naming_the_file() {
        let err = parse_with(&["cert=@/nonexistent/lessor/cert.pem"], "").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/lessor/cert.pem"));
    }

    #[test]
    fn escaped_at_is_a_literal() {
        let data = parse_with(&["email=\\@example"], "").unwrap();
        assert_eq!(data, json!({"email": "@example"}));
    }

    #[test]
    fn dash_merges_a_json_object_from_stdin() {
        let data = parse_with(&["a=1", "-", "c=3"], r#"{"a": 2, "b": {"x": true}}"#).unwrap();
        assert_eq!(data, json!({"a": 2, "b": {"x": true}, "c": "3"}));
    }

    #[test]
    fn stdin_that_is_not_an_object_is_rejected() {
        assert!(parse_with(&["-"], "[1, 2]").is_err());
        let err = parse_with(&["-"], "{\"password\": hunter2}").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn key_dash_takes_stdin_as_the_value_and_stdin_is_read_once() {
        let data = parse_with(&["password=-"], "s3cret\n").unwrap();
        assert_eq!(data, json!({"password": "s3cret\n"}));
        assert!(parse_with(&["a=-", "-"], "{}").is_err());
    }

    #[test]
    fn repeated_keys_become_a_list_like_vault() {
        let data = parse_with(&["policies=a", "policies=b", "policies=c"], "").unwrap();
        assert_eq!(data, json!({"policies": ["a", "b", "c"]}));
    }

    #[test]
    fn at_file_without_a_key_merges_a_json_object() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.json");
        std::fs::write(&file, r#"{"ttl": "1h"}"#).unwrap();
        let data = parse(&[format!("@{}", file.display())], &mut "".as_bytes()).unwrap();
        assert_eq!(Value::Object(data), json!({"ttl": "1h"}));
    }
}
