//! Decoding and limits for request fields shared by roles and creds.
//!
//! CLI writes (`lessor write apikey/roles/app bytes=48 scopes=read,write`) send every value
//! as a string, so numbers also come as strings and lists also as comma-separated strings.
//! Each decoder is a `deserialize_with` for an `Option` field (`#[serde(default)]`): absent
//! and `null` both mean "not given".

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

const MAX_ITEMS: usize = 64;
const MAX_NAME_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 512;

/// A non-negative integer from a JSON number or its string form.
pub(crate) fn number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::Number(number) => Some(
            number
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| D::Error::custom("expected a non-negative integer"))?,
        ),
        Value::String(text) => Some(
            text.trim()
                .parse()
                .map_err(|_| D::Error::custom("expected a non-negative integer"))?,
        ),
        _ => return Err(D::Error::custom("expected a non-negative integer")),
    })
}

/// A list of strings from an array, or from a comma-separated string.
pub(crate) fn list<'de, D: Deserializer<'de>>(
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
        Value::Array(items) => Some(
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(D::Error::custom("expected a list of strings")),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(D::Error::custom("expected a list of strings or a string")),
    })
}

/// A string→string map from a JSON object, or from `k=v,k2=v2`.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::Object(entries) => Some(
            entries
                .into_iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key, text)),
                    _ => Err(D::Error::custom("expected a map of strings to strings")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Value::String(text) => Some(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    item.split_once('=')
                        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
                        .ok_or_else(|| D::Error::custom("expected key=value pairs"))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(D::Error::custom("expected a map of strings to strings")),
    })
}

/// Role names: `[A-Za-z0-9_.-]`, 1 to 128 characters (they become storage path segments).
pub(crate) fn check_role_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
        || name.starts_with('.')
    {
        return Err(format!(
            "invalid role name {name:?}: use 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9_.-], not starting with '.'"
        ));
    }
    Ok(())
}

/// Scopes and policy names: at most 64, each 1 to 128 printable non-space ASCII characters.
pub(crate) fn check_names(field: &str, names: &[String]) -> Result<(), String> {
    if names.len() > MAX_ITEMS {
        return Err(format!("{field}: at most {MAX_ITEMS} entries"));
    }
    for name in names {
        if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "{field}: {name:?} must be 1 to {MAX_NAME_LEN} printable characters without spaces"
            ));
        }
    }
    Ok(())
}

/// Metadata: at most 64 entries, keys like names, values up to 512 characters.
pub(crate) fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), String> {
    if metadata.len() > MAX_ITEMS {
        return Err(format!("metadata: at most {MAX_ITEMS} entries"));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.len() > MAX_NAME_LEN || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "metadata: key {key:?} must be 1 to {MAX_NAME_LEN} printable characters without spaces"
            ));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(format!(
                "metadata: the value of {key:?} is longer than {MAX_VALUE_LEN} bytes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Fields {
        #[serde(default, deserialize_with = "number")]
        n: Option<usize>,
        #[serde(default, deserialize_with = "list")]
        l: Option<Vec<String>>,
        #[serde(default, deserialize_with = "string_map")]
        m: Option<BTreeMap<String, String>>,
    }

    fn decode(value: Value) -> Result<Fields, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn accepts_json_and_cli_forms() {
        let json = decode(serde_json::json!({"n": 48, "l": ["a", "b"], "m": {"k": "v"}})).unwrap();
        let cli = decode(serde_json::json!({"n": "48", "l": "a, b", "m": "k=v"})).unwrap();
        for fields in [json, cli] {
            assert_eq!(fields.n, Some(48));
            assert_eq!(fields.l.unwrap(), ["a", "b"]);
            assert_eq!(fields.m.unwrap()["k"], "v");
        }
        let absent = decode(serde_json::json!({})).unwrap();
        assert!(absent.n.is_none() && absent.l.is_none() && absent.m.is_none());
    }

    #[test]
    fn rejects_wrong_types() {
        assert!(decode(serde_json::json!({"n": -1})).is_err());
        assert!(decode(serde_json::json!({"n": "x"})).is_err());
        assert!(decode(serde_json::json!({"l": [1]})).is_err());
        assert!(decode(serde_json::json!({"m": {"k": 1}})).is_err());
        assert!(decode(serde_json::json!({"m": "novalue"})).is_err());
    }

    #[test]
    fn name_rules() {
        assert!(check_role_name("payments-v2.prod_1").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"a".repeat(129)] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_names("scopes", &["read:orders".into()]).is_ok());
        assert!(check_names("scopes", &["".into()]).is_err());
        assert!(check_names("scopes", &["a b".into()]).is_err());
        let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
        assert!(check_names("scopes", &many).is_err());
    }
}
