//! `sys/capabilities-self`, `sys/capabilities` and `sys/capabilities-accessor`: what a token
//! may do on given paths.

use std::sync::Arc;

use lessor_policy::Acl;
use serde::Deserialize;

use super::{SysRequest, object};
use crate::error::ApiError;
use crate::request::LogicalResponse;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilitiesBody {
    #[serde(default)]
    path: Option<StringOrList>,
    #[serde(default)]
    paths: Option<StringOrList>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    accessor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl CapabilitiesBody {
    fn paths(&self) -> Result<Vec<String>, ApiError> {
        let mut paths = Vec::new();
        for value in [&self.path, &self.paths].into_iter().flatten() {
            match value {
                StringOrList::One(path) => paths.push(path.clone()),
                StringOrList::Many(list) => paths.extend(list.iter().cloned()),
            }
        }
        if paths.is_empty() {
            return Err(ApiError::invalid("missing paths"));
        }
        Ok(paths)
    }
}

fn answer(acl: &Acl, paths: &[String]) -> Result<LogicalResponse, ApiError> {
    let mut data = serde_json::Map::new();
    let mut all: Vec<String> = Vec::new();
    for path in paths {
        let path = path.trim_start_matches('/');
        let capabilities: Vec<String> = acl
            .capabilities(path)
            .into_iter()
            .map(|c| c.as_str().to_string())
            .collect();
        all.extend(capabilities.iter().cloned());
        data.insert(path.to_string(), capabilities.into());
    }
    // Single-path requests also get the legacy `capabilities` field.
    if paths.len() == 1 {
        data.insert("capabilities".into(), all.into());
    }
    object(serde_json::Value::Object(data))
}

pub(super) async fn self_capabilities(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let body: CapabilitiesBody = sys.decode()?;
    answer(&sys.caller.acl, &body.paths()?)
}

pub(super) async fn token_capabilities(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let body: CapabilitiesBody = sys.decode()?;
    let token = body
        .token
        .as_deref()
        .ok_or_else(|| ApiError::invalid("missing token"))?;
    let entry = sys
        .unsealed
        .tokens()
        .lookup(token)
        .await
        .map_err(|_| ApiError::invalid("invalid token"))?;
    let acl: Arc<Acl> = sys.unsealed.policies().acl(&entry.policies).await?;
    answer(&acl, &body.paths()?)
}

pub(super) async fn accessor_capabilities(
    sys: &SysRequest<'_>,
) -> Result<LogicalResponse, ApiError> {
    let body: CapabilitiesBody = sys.decode()?;
    let accessor = body
        .accessor
        .as_deref()
        .ok_or_else(|| ApiError::invalid("missing accessor"))?;
    let entry = sys
        .unsealed
        .tokens()
        .lookup_accessor(accessor)
        .await
        .map_err(|_| ApiError::invalid("invalid accessor"))?;
    let acl = sys.unsealed.policies().acl(&entry.policies).await?;
    answer(&acl, &body.paths()?)
}
