//! One `path` stanza of a policy, validated: the pattern, the capabilities it grants and the
//! parameter and wrapping constraints attached to them. Parsing follows Vault's `parsePaths`
//! (legacy `policy` shorthand, `deny` dropping everything else, lowercase parameter names,
//! `+*` forbidden) and is stricter where Lessor chose to be: a `*` other than the last character
//! and keys Lessor does not implement are errors rather than silently ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::document::RawPath;
use crate::{Capability, PolicyError};

/// Per-parameter value lists: an empty list means "any value".
pub type ParameterMap = BTreeMap<String, Vec<Value>>;

/// Keys Vault knows in a path stanza that Lessor does not implement. Named separately so the
/// error says "not supported" rather than "unknown": accepting them silently would drop a
/// restriction the author asked for.
const UNSUPPORTED_KEYS: [&str; 5] = [
    "mfa_methods",
    "control_group",
    "expiration",
    "pagination_limit",
    "list_scan_response_keys_filter_path",
];

/// A validated `path` stanza.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    path: String,
    capabilities: BTreeSet<Capability>,
    required_parameters: Vec<String>,
    allowed_parameters: ParameterMap,
    denied_parameters: ParameterMap,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
}

impl PathRule {
    /// The pattern as written, without a leading `/` (for example `secret/data/*`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The capabilities granted; exactly `{deny}` when the stanza denies.
    pub fn capabilities(&self) -> &BTreeSet<Capability> {
        &self.capabilities
    }

    /// Parameters that must be present in a request.
    pub fn required_parameters(&self) -> &[String] {
        &self.required_parameters
    }

    /// Parameters (lowercase) a request may carry, with the values allowed for each; `*` is any
    /// parameter. Empty means unconstrained.
    pub fn allowed_parameters(&self) -> &ParameterMap {
        &self.allowed_parameters
    }

    /// Parameters (lowercase) a request may not carry, or the values it may not set them to.
    pub fn denied_parameters(&self) -> &ParameterMap {
        &self.denied_parameters
    }

    /// `min_wrapping_ttl`, when set.
    pub fn min_wrapping_ttl(&self) -> Option<Duration> {
        self.min_wrapping_ttl
    }

    /// `max_wrapping_ttl`, when set.
    pub fn max_wrapping_ttl(&self) -> Option<Duration> {
        self.max_wrapping_ttl
    }

    pub(crate) fn from_raw(raw: RawPath) -> Result<PathRule, PolicyError> {
        let RawPath { key, line, body } = raw;
        let err = |msg: String| PolicyError::invalid(line, format!("path {key:?}: {msg}"));
        let path = validate_pattern(&key).map_err(|m| err(m.to_owned()))?;

        let mut rule = PathRule {
            path,
            capabilities: BTreeSet::new(),
            required_parameters: Vec::new(),
            allowed_parameters: ParameterMap::new(),
            denied_parameters: ParameterMap::new(),
            min_wrapping_ttl: None,
            max_wrapping_ttl: None,
        };
        for (name, value) in body {
            parse_key(&mut rule, &name, value).map_err(err)?;
        }

        if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl)
            && !min.is_zero()
            && !max.is_zero()
            && max < min
        {
            return Err(err(
                "max_wrapping_ttl cannot be less than min_wrapping_ttl".into()
            ));
        }
        // As in Vault, a deny stanza is only a deny: nothing else on it can matter.
        if rule.capabilities.contains(&Capability::Deny) {
            rule.capabilities = BTreeSet::from([Capability::Deny]);
            rule.required_parameters.clear();
            rule.allowed_parameters.clear();
            rule.denied_parameters.clear();
            rule.min_wrapping_ttl = None;
            rule.max_wrapping_ttl = None;
        }
        Ok(rule)
    }
}

/// Checks a pattern and strips one leading `/` (request paths start after it).
fn validate_pattern(key: &str) -> Result<String, &'static str> {
    let path = key.strip_prefix('/').unwrap_or(key);
    if path.is_empty() {
        return Err("path is empty");
    }
    if path.contains("+*") {
        return Err("invalid use of wildcards ('+*' is forbidden)");
    }
    if path.find('*').is_some_and(|i| i + 1 != path.len()) {
        return Err("'*' may only appear as the last character");
    }
    Ok(path.to_owned())
}

fn parse_key(rule: &mut PathRule, name: &str, value: Value) -> Result<(), String> {
    match name {
        "capabilities" => {
            for cap in string_list(name, value)? {
                let parsed = cap
                    .parse::<Capability>()
                    .map_err(|_| format!("invalid capability {cap:?}"))?;
                rule.capabilities.insert(parsed);
            }
        }
        "policy" => {
            use Capability::*;
            let legacy: &[Capability] = match value.as_str() {
                Some("deny") => &[Deny],
                Some("read") => &[Read, List],
                Some("write") => &[Create, Read, Update, Delete, List],
                Some("sudo") => &[Create, Read, Update, Delete, List, Sudo],
                Some(other) => return Err(format!("invalid policy {other:?}")),
                None => return Err("\"policy\" must be a string".into()),
            };
            rule.capabilities.extend(legacy.iter().copied());
        }
        "allowed_parameters" => rule.allowed_parameters = parameter_map(name, value)?,
        "denied_parameters" => rule.denied_parameters = parameter_map(name, value)?,
        "required_parameters" => rule.required_parameters = string_list(name, value)?,
        "min_wrapping_ttl" => rule.min_wrapping_ttl = Some(parse_ttl(name, &value)?),
        "max_wrapping_ttl" => rule.max_wrapping_ttl = Some(parse_ttl(name, &value)?),
        "comment" if value.is_string() => {}
        "comment" => return Err("\"comment\" must be a string".into()),
        other if UNSUPPORTED_KEYS.contains(&other) => {
            return Err(format!("{other:?} is not supported by Lessor"));
        }
        other => return Err(format!("invalid key {other:?}")),
    }
    Ok(())
}

fn string_list(name: &str, value: Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{name:?} must be a list of strings"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            _ => Err(format!("{name:?} must be a list of strings")),
        })
        .collect()
}

fn parameter_map(name: &str, value: Value) -> Result<ParameterMap, String> {
    let Value::Object(entries) = value else {
        return Err(format!(
            "{name:?} must be a map of parameter to list of values"
        ));
    };
    let mut map = ParameterMap::new();
    for (param, values) in Map::into_iter(entries) {
        let Value::Array(values) = values else {
            return Err(format!("{name:?}: the values for {param:?} must be a list"));
        };
        // Vault matches parameter names case-insensitively by lowercasing both sides.
        if map.insert(param.to_lowercase(), values).is_some() {
            return Err(format!(
                "{name:?}: parameter {param:?} is listed twice (names are case-insensitive)"
            ));
        }
    }
    Ok(map)
}

/// Parses a TTL the way Vault's `ParseDurationSecond` does: a number of seconds, or a string
/// holding either a number of seconds or a duration such as `"90s"`, `"1h30m"` or `"7d"`.
fn parse_ttl(name: &str, value: &Value) -> Result<Duration, String> {
    let bad = || format!("{name:?} must be a non-negative number of seconds or a duration");
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(bad),
        Value::String(s) => parse_duration(s.trim()).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return Some(Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let amount: f64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest.get(..unit_len)? {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total += amount * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        for bad in ["h", "10x", "-5s", "1..2s", "s10"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(validate_pattern("/secret/*"), Ok("secret/*".to_owned()));
        assert_eq!(validate_pattern("*"), Ok("*".to_owned()));
        assert_eq!(validate_pattern("+/x/+"), Ok("+/x/+".to_owned()));
        assert!(validate_pattern("").is_err());
        assert!(validate_pattern("/").is_err());
        assert!(validate_pattern("secret/*/x").is_err());
        assert!(validate_pattern("**").is_err());
        assert!(validate_pattern("secret/+*").is_err());
    }
}
