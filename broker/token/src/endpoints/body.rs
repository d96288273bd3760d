//! Request bodies of the `auth/token/*` endpoints, decoded strictly: unknown fields and
//! wrong types are a 400 naming the problem. Durations take Vault's forms (`3600`, `"1h"`);
//! policies take a JSON list or a comma-separated string, as Vault's CLI may send either.

use std::collections::BTreeMap;

use lessor_sdk::{Map, Request, Ttl};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::TokenError;

pub(super) fn decode<T: DeserializeOwned>(request: &Request) -> Result<T, TokenError> {
    let error = match serde_json::from_value(Value::Object(request.data.clone())) {
        Ok(body) => return Ok(body),
        Err(error) => error,
    };
    // serde_json does not say which field had the wrong type. Every field of these bodies
    // is optional, so decoding each field alone finds the culprit.
    let culprit = request.data.iter().find_map(|(field, value)| {
        let alone = Map::from_iter([(field.clone(), value.clone())]);
        serde_json::from_value::<T>(Value::Object(alone))
            .err()
            .map(|error| format!("field `{field}`: {error}"))
    });
    Err(TokenError::invalid(format!(
        "invalid request body: {}",
        culprit.unwrap_or_else(|| error.to_string())
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    pub id: Option<String>,
    #[serde(default, deserialize_with = "policy_list")]
    pub policies: Option<Vec<String>>,
    pub meta: Option<BTreeMap<String, String>>,
    pub no_parent: Option<bool>,
    pub no_default_policy: Option<bool>,
    pub renewable: Option<bool>,
    #[serde(default, deserialize_with = "optional_ttl")]
    pub ttl: Option<Ttl>,
    /// Vault's deprecated spelling of `ttl`.
    #[serde(default, deserialize_with = "optional_ttl")]
    pub lease: Option<Ttl>,
    #[serde(default, deserialize_with = "optional_ttl")]
    pub explicit_max_ttl: Option<Ttl>,
    pub display_name: Option<String>,
    pub num_uses: Option<u32>,
    #[serde(default, deserialize_with = "optional_ttl")]
    pub period: Option<Ttl>,
    #[serde(rename = "type")]
    pub token_type: Option<String>,
    pub entity_alias: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Empty {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenBody {
    #[serde(default)]
    pub token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessorBody {
    #[serde(default)]
    pub accessor: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RenewBody {
    #[serde(default)]
    pub token: String,
    #[serde(default, deserialize_with = "optional_ttl")]
    pub increment: Option<Ttl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RenewSelfBody {
    #[serde(default, deserialize_with = "optional_ttl")]
    pub increment: Option<Ttl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RenewAccessorBody {
    #[serde(default)]
    pub accessor: String,
    #[serde(default, deserialize_with = "optional_ttl")]
    pub increment: Option<Ttl>,
}

/// `null`, `""` and `0` all mean "not set", as in Vault.
fn optional_ttl<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Ttl>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(value) => {
            let ttl = Ttl::deserialize(value).map_err(D::Error::custom)?;
            Ok((!ttl.is_zero()).then_some(ttl))
        }
    }
}

fn policy_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    const EXPECTED: &str = "policies must be a list of strings or a comma-separated string";
    match Option::<Value>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Value::String(joined)) => Ok(Some(
            joined
                .split(',')
                .map(str::trim)
                .filter(|policy| !policy.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(policy) => Ok(policy),
                _ => Err(D::Error::custom(EXPECTED)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(D::Error::custom(EXPECTED)),
    }
}
