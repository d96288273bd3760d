//! Request-parameter constraints (`required_parameters`, `allowed_parameters`,
//! `denied_parameters`) checked against a request body, with Vault's semantics: names compare
//! lowercased, an empty value list means any value, `*` as a name means any parameter, and
//! string values may carry a leading and/or trailing `*` glob.

use serde_json::{Map, Value};

use crate::DenyReason;
use crate::rule::ParameterMap;

/// The constraints of the matched (merged) rule.
pub(crate) struct Constraints<'a> {
    pub(crate) required: &'a [String],
    pub(crate) allowed: &'a ParameterMap,
    pub(crate) denied: &'a ParameterMap,
}

/// Checks `params` against `constraints`, in Vault's order: required, then denied, then allowed.
pub(crate) fn check(
    constraints: &Constraints<'_>,
    params: Option<&Map<String, Value>>,
) -> Result<(), DenyReason> {
    let empty = Map::new();
    let params = params.unwrap_or(&empty);

    for name in constraints.required {
        if !params.contains_key(&name.to_lowercase()) {
            return Err(DenyReason::RequiredParameterMissing(name.clone()));
        }
    }
    if params.is_empty() {
        return Ok(());
    }

    if !constraints.denied.is_empty() {
        // `"*" = [...]` in denied_parameters refuses every parameter, whatever the values listed.
        if constraints.denied.contains_key("*") {
            return Err(DenyReason::ParameterDenied("*".to_owned()));
        }
        for (name, value) in params {
            if let Some(list) = constraints.denied.get(&name.to_lowercase())
                && value_in_list(value, list)
            {
                return Err(DenyReason::ParameterDenied(name.clone()));
            }
        }
    }

    if constraints.allowed.is_empty() {
        return Ok(());
    }
    let allow_any_name = constraints.allowed.contains_key("*");
    if allow_any_name && constraints.allowed.len() == 1 {
        return Ok(());
    }
    for (name, value) in params {
        match constraints.allowed.get(&name.to_lowercase()) {
            None if !allow_any_name => return Err(DenyReason::ParameterNotAllowed(name.clone())),
            Some(list) if !value_in_list(value, list) => {
                return Err(DenyReason::ParameterNotAllowed(name.clone()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `value` is one of `list`; an empty list holds every value.
fn value_in_list(value: &Value, list: &[Value]) -> bool {
    list.is_empty() || list.iter().any(|item| value_matches(item, value))
}

fn value_matches(item: &Value, value: &Value) -> bool {
    match (item, value) {
        (Value::String(item), Value::String(value)) => glob_match(item, value),
        // HCL integers and JSON floats must compare equal when they are the same number.
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => item == value,
    }
}

/// Vault's `GlobbedStringsMatch`: `*x` matches a suffix, `x*` a prefix, `*x*` a substring; a lone
/// `*` (too short to be a glob there) only matches itself.
fn glob_match(item: &str, value: &str) -> bool {
    if item.len() < 2 {
        return item == value;
    }
    match (item.strip_prefix('*'), item.strip_suffix('*')) {
        (Some(rest), Some(_)) => {
            let middle = rest.strip_suffix('*').unwrap_or(rest);
            value.contains(middle)
        }
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => item == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob_match("foo*", "foobar"));
        assert!(!glob_match("foo*", "barfoo"));
        assert!(glob_match("*bar", "foobar"));
        assert!(glob_match("*ob*", "foobar"));
        assert!(!glob_match("*zz*", "foobar"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "anything"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn values() {
        assert!(value_in_list(&json!("x"), &[]));
        assert!(value_in_list(&json!(1.0), &[json!(1)]));
        assert!(!value_in_list(&json!("1"), &[json!(1)]));
        assert!(value_in_list(&json!(null), &[json!(null)]));
        assert!(value_in_list(&json!(["a"]), &[json!(["a"])]));
    }
}
