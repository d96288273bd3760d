//! Lenient decoding of request fields, the way Vault's field schema reads them: CLI writes
//! (`vault write … verify_connection=false`) send every value as a string, and list fields
//! take either a JSON array or a string.
//!
//! Each function is a `deserialize_with` for an `Option` field (`#[serde(default)]`), so an
//! absent field and `null` both mean "not given".

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A list of strings from an array, or from a comma-separated string (`allowed_roles`).
pub(crate) fn comma_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(text) => Some(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect(),
        ),
        Value::Array(items) => Some(strings(items)?),
        _ => return Err(D::Error::custom("expected a list of strings or a string")),
    })
}

/// A list of statements from an array, or one string (never split on commas, which
/// statements contain; `;` splitting happens later, quote-aware).
pub(crate) fn statement_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(text) if text.trim().is_empty() => Some(Vec::new()),
        Value::String(text) => Some(vec![text]),
        Value::Array(items) => Some(
            strings(items)?
                .into_iter()
                .filter(|item| !item.trim().is_empty())
                .collect(),
        ),
        _ => return Err(D::Error::custom("expected a list of strings or a string")),
    })
}

fn strings<E: serde::de::Error>(items: Vec<Value>) -> Result<Vec<String>, E> {
    items
        .into_iter()
        .map(|item| match item {
            Value::String(text) => Ok(text),
            _ => Err(E::custom("expected a list of strings")),
        })
        .collect()
}

/// A boolean from `true`/`false` or their string forms.
pub(crate) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::Bool(value) => Some(value),
        Value::String(text) => match text.as_str() {
            "true" | "1" | "t" | "True" | "TRUE" => Some(true),
            "false" | "0" | "f" | "False" | "FALSE" => Some(false),
            _ => return Err(D::Error::custom("expected a boolean")),
        },
        _ => return Err(D::Error::custom("expected a boolean")),
    })
}

/// An integer from a number or a numeric string.
pub(crate) fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::Number(number) => Some(
            number
                .as_i64()
                .ok_or_else(|| D::Error::custom("expected an integer"))?,
        ),
        Value::String(text) => Some(
            text.trim()
                .parse()
                .map_err(|_| D::Error::custom("expected an integer"))?,
        ),
        _ => return Err(D::Error::custom("expected an integer")),
    })
}

/// Whether a field we accept for compatibility but do not implement was set to something
/// other than its "off" value.
pub(crate) fn is_set(value: &Option<Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !text.is_empty() && text != "0" && text != "false",
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(number)) => number.as_f64() != Some(0.0),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
    }
}

/// Longest config or role name we accept.
const MAX_NAME_LEN: usize = 128;

/// Checks a config or role name from the path: `[A-Za-z0-9_.-]`, at most 128 characters,
/// not `.` or `..`.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid {kind} name: use 1 to {MAX_NAME_LEN} characters from [A-Za-z0-9_.-]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "comma_list")]
        roles: Option<Vec<String>>,
        #[serde(default, deserialize_with = "statement_list")]
        statements: Option<Vec<String>>,
        #[serde(default, deserialize_with = "flag")]
        verify: Option<bool>,
        #[serde(default, deserialize_with = "integer")]
        count: Option<i64>,
    }

    fn body(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn strings_and_lists() {
        let parsed = body(
            r#"{"roles":"a, b,,c","statements":"GRANT SELECT, INSERT ON t TO x","verify":"false","count":"7"}"#,
        )
        .unwrap();
        assert_eq!(parsed.roles.unwrap(), ["a", "b", "c"]);
        assert_eq!(
            parsed.statements.unwrap(),
            ["GRANT SELECT, INSERT ON t TO x"]
        );
        assert_eq!(parsed.verify, Some(false));
        assert_eq!(parsed.count, Some(7));
        let parsed = body(r#"{"roles":["*"],"verify":true}"#).unwrap();
        assert_eq!(parsed.roles.unwrap(), ["*"]);
        assert!(parsed.statements.is_none());
        assert!(body(r#"{"verify":"maybe"}"#).is_err());
        assert!(body(r#"{"count":1.5}"#).is_err());
        assert!(body(r#"{"roles":[1]}"#).is_err());
    }

    #[test]
    fn names() {
        for good in ["app", "a.b-c_d", "X9"] {
            assert!(check_name("role", good).is_ok(), "{good}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a\"; DROP ROLE postgres; --",
            "a/b",
            long.as_str(),
        ] {
            assert!(check_name("role", bad).is_err(), "{bad}");
        }
    }
}
