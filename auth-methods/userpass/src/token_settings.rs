//! The token settings a user carries (Vault's `token_*` fields) and how a write request
//! updates them, including the legacy names (`policies`, `ttl`, `max_ttl`, `bound_cidrs`).
//!
//! Lists accept a JSON array or a comma-delimited string, like Vault. `token_bound_cidrs` is
//! validated and stored and returned, but **not enforced**: the SDK does not hand auth
//! methods the client's address, so a CIDR restriction cannot be checked at login yet.

use std::net::IpAddr;

use lessor_sdk::Ttl;
use serde::de::{self, Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::UserpassError;

/// What a token minted for this user gets. Zero durations mean "the mount's default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenSettings {
    pub policies: Vec<String>,
    pub ttl: Ttl,
    pub max_ttl: Ttl,
    pub period: Ttl,
    /// 0 means unlimited.
    pub num_uses: u32,
    pub bound_cidrs: Vec<String>,
}

/// The token fields of a `users/:username` write. Every field is optional: an update
/// changes only what it names. `password` is taken out of the body before decoding.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenFieldsBody {
    /// Vault lets clients repeat the path's username in the body; the path wins.
    #[serde(default, rename = "username")]
    _username: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "string_list")]
    token_policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    policies: Option<Vec<String>>,
    token_ttl: Option<Ttl>,
    ttl: Option<Ttl>,
    token_max_ttl: Option<Ttl>,
    max_ttl: Option<Ttl>,
    token_period: Option<Ttl>,
    #[serde(default, deserialize_with = "num_uses")]
    token_num_uses: Option<u32>,
    #[serde(default, deserialize_with = "string_list")]
    token_bound_cidrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    bound_cidrs: Option<Vec<String>>,
    // Accepted so Vault clients that send every field (Terraform) work, but only with their
    // default values: the token store cannot honour anything else for login tokens yet.
    token_explicit_max_ttl: Option<Ttl>,
    token_no_default_policy: Option<bool>,
    token_type: Option<String>,
}

impl TokenFieldsBody {
    /// Applies the body to `settings` (the stored values, or defaults for a new user).
    pub(crate) fn apply(self, settings: &mut TokenSettings) -> Result<(), UserpassError> {
        if self
            .token_explicit_max_ttl
            .is_some_and(|ttl| !ttl.is_zero())
        {
            return Err(unsupported("token_explicit_max_ttl"));
        }
        if self.token_no_default_policy == Some(true) {
            return Err(unsupported("token_no_default_policy"));
        }
        if let Some(kind) = self.token_type.as_deref()
            && !matches!(kind, "" | "default" | "service" | "default-service")
        {
            return Err(UserpassError::InvalidField(format!(
                "token_type {kind:?} is not supported; only service tokens are issued"
            )));
        }
        if let Some(policies) = prefer(
            "token_policies",
            self.token_policies,
            "policies",
            self.policies,
        )? {
            settings.policies = normalize_policies(policies)?;
        }
        if let Some(ttl) = prefer("token_ttl", self.token_ttl, "ttl", self.ttl)? {
            settings.ttl = ttl;
        }
        if let Some(max_ttl) = prefer("token_max_ttl", self.token_max_ttl, "max_ttl", self.max_ttl)?
        {
            settings.max_ttl = max_ttl;
        }
        if let Some(period) = self.token_period {
            settings.period = period;
        }
        if let Some(num_uses) = self.token_num_uses {
            settings.num_uses = num_uses;
        }
        if let Some(cidrs) = prefer(
            "token_bound_cidrs",
            self.token_bound_cidrs,
            "bound_cidrs",
            self.bound_cidrs,
        )? {
            settings.bound_cidrs = validate_cidrs(cidrs)?;
        }
        if !settings.max_ttl.is_zero() && settings.ttl > settings.max_ttl {
            return Err(UserpassError::InvalidField(
                "token_ttl cannot be greater than token_max_ttl".into(),
            ));
        }
        Ok(())
    }
}

/// The body of `users/:username/policies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoliciesBody {
    #[serde(default, rename = "username")]
    _username: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "string_list")]
    token_policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    policies: Option<Vec<String>>,
}

impl PoliciesBody {
    pub(crate) fn into_policies(self) -> Result<Vec<String>, UserpassError> {
        match prefer(
            "token_policies",
            self.token_policies,
            "policies",
            self.policies,
        )? {
            Some(policies) => normalize_policies(policies),
            None => Err(UserpassError::InvalidField(
                "token_policies (or policies) is required".into(),
            )),
        }
    }
}

impl TokenSettings {
    /// The `data` of a user read: Vault's `token_*` fields plus the legacy names.
    pub(crate) fn to_read_data(&self) -> Value {
        json!({
            "token_policies": self.policies,
            "token_ttl": self.ttl,
            "token_max_ttl": self.max_ttl,
            "token_period": self.period,
            "token_num_uses": self.num_uses,
            "token_bound_cidrs": self.bound_cidrs,
            "token_explicit_max_ttl": 0,
            "token_no_default_policy": false,
            "token_type": "default",
            "policies": self.policies,
            "ttl": self.ttl,
            "max_ttl": self.max_ttl,
            "bound_cidrs": self.bound_cidrs,
        })
    }
}

fn unsupported(field: &str) -> UserpassError {
    UserpassError::InvalidField(format!("{field} is not supported by this auth method"))
}

/// Vault refuses a field given under both its current and its legacy name.
fn prefer<T>(
    name: &str,
    current: Option<T>,
    legacy_name: &str,
    legacy: Option<T>,
) -> Result<Option<T>, UserpassError> {
    match (current, legacy) {
        (Some(_), Some(_)) => Err(UserpassError::InvalidField(format!(
            "cannot specify both {name} and {legacy_name}"
        ))),
        (current, legacy) => Ok(current.or(legacy)),
    }
}

/// Trims, lower-cases, drops empties, sorts and dedups, as Vault's policy parsing does.
/// `root` is refused here: the broker would refuse to mint the token at every login anyway.
fn normalize_policies(policies: Vec<String>) -> Result<Vec<String>, UserpassError> {
    let mut policies: Vec<String> = policies
        .into_iter()
        .map(|policy| policy.trim().to_ascii_lowercase())
        .filter(|policy| !policy.is_empty())
        .collect();
    policies.sort();
    policies.dedup();
    if policies.iter().any(|policy| policy == "root") {
        return Err(UserpassError::InvalidField(
            "the root policy cannot be granted by an auth method".into(),
        ));
    }
    Ok(policies)
}

fn validate_cidrs(cidrs: Vec<String>) -> Result<Vec<String>, UserpassError> {
    cidrs
        .into_iter()
        .map(|cidr| cidr.trim().to_string())
        .filter(|cidr| !cidr.is_empty())
        .map(|cidr| {
            let (address, prefix) = match cidr.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (cidr.as_str(), None),
            };
            let invalid = || UserpassError::InvalidField(format!("invalid CIDR block {cidr:?}"));
            let address: IpAddr = address.parse().map_err(|_| invalid())?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            if let Some(prefix) = prefix {
                let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
                if prefix > max {
                    return Err(invalid());
                }
            }
            Ok(cidr)
        })
        .collect()
}

/// A JSON array of strings or one comma-delimited string.
fn string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(de::Error::custom("expected a list of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(de::Error::custom(
            "expected a list of strings or a comma-delimited string",
        )),
    }
}

/// A non-negative integer, as a JSON number or a numeric string.
fn num_uses<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let parsed = match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    parsed
        .and_then(|value| u32::try_from(value).ok())
        .map(Some)
        .ok_or_else(|| de::Error::custom("token_num_uses must be a non-negative integer"))
}

#[cfg(test)]
mod tests;
