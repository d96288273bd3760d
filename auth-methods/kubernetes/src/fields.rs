//! Field shapes shared by `config` and `role/:name`: Vault's "comma string or list" slices,
//! role-name rules, and the `*` globs that bind service-account names and namespaces.

use serde::{Deserialize, Deserializer};

/// Vault's `TypeCommaStringSlice`: a JSON list of strings or one comma-separated string
/// (the CLI sends `policies=a,b`). Entries are trimmed; empty ones are dropped.
pub(crate) fn string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(String),
        Many(Vec<String>),
    }
    let parts = match Option::<Shape>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Shape::One(text)) => text.split(',').map(str::to_string).collect(),
        Some(Shape::Many(list)) => list,
    };
    Ok(Some(
        parts
            .into_iter()
            .map(|part| part.trim().to_string())
            .filter(|part| !part.is_empty())
            .collect(),
    ))
}

/// Role names become storage keys and token metadata: keep them to a safe alphabet.
pub(crate) fn check_role_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("role name is required".into());
    }
    if name.len() > 128 {
        return Err("role name is longer than 128 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err("role name may contain only letters, digits, '-', '_', '.' and '@'".into());
    }
    Ok(())
}

/// Whether `value` matches any of `patterns`, where `*` in a pattern stands for any run of
/// characters (Vault's glob semantics for bound names and namespaces).
pub(crate) fn matches_any(patterns: &[String], value: &str) -> bool {
    patterns.iter().any(|pattern| glob_match(pattern, value))
}

fn glob_match(pattern: &str, value: &str) -> bool {
    let mut pieces = pattern.split('*');
    // `split` always yields at least one piece.
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No `*` at all: an exact match.
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("app", "app", true),
            ("app", "app2", false),
            ("app-*", "app-web", true),
            ("app-*", "ap-web", false),
            ("*-prod", "web-prod", true),
            ("*-prod", "web-prod2", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(glob_match(pattern, value), expected, "{pattern} vs {value}");
        }
    }

    #[test]
    fn role_names() {
        assert!(check_role_name("web-app_1.x").is_ok());
        assert!(check_role_name("").is_err());
        assert!(check_role_name("a/b").is_err());
        assert!(check_role_name("a b").is_err());
        assert!(check_role_name(&"x".repeat(129)).is_err());
    }

    #[test]
    fn lists_from_strings_or_arrays() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "string_list")]
            names: Option<Vec<String>>,
        }
        let body: Body = serde_json::from_str(r#"{"names": "a, b,,c"}"#).unwrap();
        assert_eq!(body.names.unwrap(), ["a", "b", "c"]);
        let body: Body = serde_json::from_str(r#"{"names": ["a", " b "]}"#).unwrap();
        assert_eq!(body.names.unwrap(), ["a", "b"]);
        let body: Body = serde_json::from_str(r#"{}"#).unwrap();
        assert!(body.names.is_none());
        assert!(serde_json::from_str::<Body>(r#"{"names": 3}"#).is_err());
    }
}
