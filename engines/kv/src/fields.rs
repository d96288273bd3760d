//! Typed fields out of a request's `data` map, with Vault's leniency and our strictness.
//!
//! Lenient where Vault's field decoding is: query parameters arrive as strings, so integers
//! and booleans are accepted as `2` or `"2"`, `true` or `"true"`; `versions` takes a list or a
//! comma-separated string; durations take seconds or Go-style strings. Strict where Vault
//! merely warns: an unknown field is an error, so a typo never silently does nothing.
//! Error messages name the field and the expected type, never the value sent.

use std::collections::BTreeMap;

use lessor_sdk::{Map, Ttl};
use serde_json::Value;

use crate::error::KvError;

/// Vault's limits on `custom_metadata`.
const MAX_CUSTOM_METADATA_KEYS: usize = 64;
const MAX_CUSTOM_METADATA_KEY_LEN: usize = 128;
const MAX_CUSTOM_METADATA_VALUE_LEN: usize = 512;

/// Refuses any field of `data` not in `allowed`.
pub(crate) fn allow_only(data: &Map, allowed: &[&str]) -> Result<(), KvError> {
    let mut unknown: Vec<&str> = data
        .keys()
        .map(String::as_str)
        .filter(|key| !allowed.contains(key))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    let expected = if allowed.is_empty() {
        "this endpoint takes no parameters".to_string()
    } else {
        format!("expected {}", allowed.join(", "))
    };
    Err(KvError::invalid(format!(
        "unknown field(s) {}; {expected}",
        unknown.join(", ")
    )))
}

/// A field's value, with JSON `null` treated as absent.
fn present<'a>(data: &'a Map, name: &str) -> Option<&'a Value> {
    data.get(name).filter(|value| !value.is_null())
}

/// A non-negative integer; an empty string (an empty query parameter) counts as absent.
pub(crate) fn uint(data: &Map, name: &str) -> Result<Option<u64>, KvError> {
    match present(data, name) {
        None => Ok(None),
        Some(value) => value_to_uint(value, name),
    }
}

fn value_to_uint(value: &Value, name: &str) -> Result<Option<u64>, KvError> {
    let not_an_integer = || KvError::invalid(format!("{name} must be a non-negative integer"));
    match value {
        Value::Number(number) => number.as_u64().map(Some).ok_or_else(not_an_integer),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| not_an_integer()),
        _ => Err(not_an_integer()),
    }
}

/// A non-negative integer that must fit in 32 bits (`max_versions`).
pub(crate) fn uint32(data: &Map, name: &str) -> Result<Option<u32>, KvError> {
    match uint(data, name)? {
        None => Ok(None),
        Some(value) => u32::try_from(value)
            .map(Some)
            .map_err(|_| KvError::invalid(format!("{name} is too large"))),
    }
}

pub(crate) fn boolean(data: &Map, name: &str) -> Result<Option<bool>, KvError> {
    let not_a_bool = || KvError::invalid(format!("{name} must be a boolean"));
    match present(data, name) {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(Value::String(text)) => match text.trim() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(not_a_bool()),
        },
        Some(Value::Number(number)) => match number.as_u64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(not_a_bool()),
        },
        Some(_) => Err(not_a_bool()),
    }
}

/// A duration in whole seconds (Vault truncates to seconds), possibly negative: integer
/// seconds or a Go-style string such as `"1h30m"` or `"-1s"`.
pub(crate) fn signed_duration(data: &Map, name: &str) -> Result<Option<i64>, KvError> {
    let not_a_duration =
        || KvError::invalid(format!("{name} must be a duration such as 3600 or \"1h\""));
    match present(data, name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(seconds) = number.as_i64() {
                Ok(Some(seconds))
            } else if let Some(seconds) =
                number.as_f64().filter(|s| s.is_finite() && s.abs() < 3.2e9)
            {
                // Truncation toward zero is Vault's behaviour for fractional seconds.
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(seconds as i64))
            } else {
                Err(not_a_duration())
            }
        }
        Some(Value::String(text)) => {
            let text = text.trim();
            let (negative, magnitude) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let seconds = Ttl::parse(magnitude)
                .map_err(|_| not_a_duration())?
                .as_secs();
            let seconds = i64::try_from(seconds).map_err(|_| not_a_duration())?;
            Ok(Some(if negative { -seconds } else { seconds }))
        }
        Some(_) => Err(not_a_duration()),
    }
}

/// A duration that may not be negative (a key's `delete_version_after`).
pub(crate) fn duration(data: &Map, name: &str) -> Result<Option<u64>, KvError> {
    match signed_duration(data, name)? {
        None => Ok(None),
        Some(seconds) => u64::try_from(seconds)
            .map(Some)
            .map_err(|_| KvError::invalid(format!("{name} cannot be negative"))),
    }
}

/// The `versions` of delete/undelete/destroy: `[1, 2]`, `["1", "2"]`, `"1,2"` or `3`.
/// At least one is required.
pub(crate) fn versions(data: &Map) -> Result<Vec<u64>, KvError> {
    let bad = || KvError::invalid("versions must be a list of non-negative integers");
    let versions = match present(data, "versions") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| value_to_uint(item, "versions")?.ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(Value::String(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| part.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?,
        Some(number @ Value::Number(_)) => {
            vec![value_to_uint(number, "versions")?.ok_or_else(bad)?]
        }
        Some(_) => return Err(bad()),
    };
    if versions.is_empty() {
        return Err(KvError::invalid("no version number provided"));
    }
    Ok(versions)
}

/// An optional JSON object field.
pub(crate) fn object<'a>(data: &'a Map, name: &str) -> Result<Option<&'a Map>, KvError> {
    match present(data, name) {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(KvError::invalid(format!("{name} must be a JSON object"))),
    }
}

/// `custom_metadata`: string values (numbers and booleans are converted, as Vault's weak
/// decoding does), within Vault's limits. Keys whose value is `null` are returned apart: a
/// merge-patch removes them, a full write refuses them.
pub(crate) fn custom_metadata(
    raw: &Map,
) -> Result<(BTreeMap<String, String>, Vec<String>), KvError> {
    const PREFIX: &str = "custom_metadata validation failed";
    if raw.len() > MAX_CUSTOM_METADATA_KEYS {
        return Err(KvError::invalid(format!(
            "{PREFIX}: payload must contain at most {MAX_CUSTOM_METADATA_KEYS} keys"
        )));
    }
    let mut values = BTreeMap::new();
    let mut removed = Vec::new();
    for (key, value) in raw {
        if key.is_empty() || key.len() > MAX_CUSTOM_METADATA_KEY_LEN {
            return Err(KvError::invalid(format!(
                "{PREFIX}: keys must be 1 to {MAX_CUSTOM_METADATA_KEY_LEN} bytes long"
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(KvError::invalid(format!(
                "{PREFIX}: keys may not contain unprintable characters"
            )));
        }
        let text = match value {
            Value::Null => {
                removed.push(key.clone());
                continue;
            }
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(KvError::invalid(format!(
                    "{PREFIX}: value for key {key:?} must be a string"
                )));
            }
        };
        if text.is_empty() || text.len() > MAX_CUSTOM_METADATA_VALUE_LEN {
            return Err(KvError::invalid(format!(
                "{PREFIX}: value for key {key:?} must be 1 to {MAX_CUSTOM_METADATA_VALUE_LEN} bytes long"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(KvError::invalid(format!(
                "{PREFIX}: value for key {key:?} contains unprintable characters"
            )));
        }
        values.insert(key.clone(), text);
    }
    Ok((values, removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        let data = map(json!({"a": 2, "b": "3", "c": "", "d": -1, "e": "x", "f": 1.5, "g": null}));
        assert_eq!(uint(&data, "a").unwrap(), Some(2));
        assert_eq!(uint(&data, "b").unwrap(), Some(3));
        assert_eq!(uint(&data, "c").unwrap(), None);
        assert_eq!(uint(&data, "g").unwrap(), None);
        assert_eq!(uint(&data, "missing").unwrap(), None);
        for bad in ["d", "e", "f"] {
            assert!(
                matches!(uint(&data, bad), Err(KvError::Invalid(_))),
                "{bad}"
            );
        }
        let big = map(json!({"m": 5_000_000_000u64}));
        assert!(uint32(&big, "m").is_err());
    }

    #[test]
    fn booleans_from_bools_and_strings() {
        let data = map(json!({"a": true, "b": "false", "c": "yes", "d": []}));
        assert_eq!(boolean(&data, "a").unwrap(), Some(true));
        assert_eq!(boolean(&data, "b").unwrap(), Some(false));
        assert!(boolean(&data, "c").is_err());
        assert!(boolean(&data, "d").is_err());
    }

    #[test]
    fn durations_accept_go_strings_and_negatives() {
        let data = map(json!({"a": "1h30m", "b": 90, "c": "-1s", "d": "soon", "e": -5}));
        assert_eq!(signed_duration(&data, "a").unwrap(), Some(5400));
        assert_eq!(signed_duration(&data, "b").unwrap(), Some(90));
        assert_eq!(signed_duration(&data, "c").unwrap(), Some(-1));
        assert!(signed_duration(&data, "d").is_err());
        assert!(duration(&data, "c").is_err());
        assert!(duration(&data, "e").is_err());
        assert_eq!(duration(&data, "a").unwrap(), Some(5400));
    }

    #[test]
    fn versions_in_every_form() {
        let list = |value: Value| versions(&map(json!({ "versions": value })));
        assert_eq!(list(json!([1, 2])).unwrap(), vec![1, 2]);
        assert_eq!(list(json!(["1", "3"])).unwrap(), vec![1, 3]);
        assert_eq!(list(json!("4, 5")).unwrap(), vec![4, 5]);
        assert_eq!(list(json!(6)).unwrap(), vec![6]);
        assert!(list(json!([])).is_err());
        assert!(list(json!([-1])).is_err());
        assert!(list(json!("a,b")).is_err());
        assert!(list(json!({"x": 1})).is_err());
        assert!(versions(&Map::new()).is_err());
    }

    #[test]
    fn unknown_fields_are_named() {
        let data = map(json!({"data": {}, "zzz": 1}));
        let Err(KvError::Invalid(message)) = allow_only(&data, &["data", "options"]) else {
            panic!("unknown field accepted");
        };
        assert!(message.contains("zzz"), "{message}");
        assert!(allow_only(&data, &["data", "zzz"]).is_ok());
    }

    #[test]
    fn custom_metadata_limits() {
        let (values, removed) =
            custom_metadata(&map(json!({"owner": "jdoe", "n": 3, "gone": null}))).unwrap();
        assert_eq!(values.get("owner").map(String::as_str), Some("jdoe"));
        assert_eq!(values.get("n").map(String::as_str), Some("3"));
        assert_eq!(removed, vec!["gone".to_string()]);
        assert!(custom_metadata(&map(json!({"k": ""}))).is_err());
        assert!(custom_metadata(&map(json!({"k": {"nested": 1}}))).is_err());
        assert!(custom_metadata(&map(json!({"k": "a\u{7}b"}))).is_err());
        let too_many: Map = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(custom_metadata(&too_many).is_err());
    }
}
