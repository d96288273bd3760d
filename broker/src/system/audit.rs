//! `sys/audit` (list), `sys/audit/:path` (enable, disable) and `sys/audit-hash/:path`. All
//! are root-protected (sudo), as in Vault. The devices themselves live in [`crate::audit`].

use lessor_sdk::{Map, Operation};
use serde::Deserialize;

use super::{SysRequest, object};
use crate::audit::{DeviceOptions, DeviceType};
use crate::error::ApiError;
use crate::request::LogicalResponse;

/// The body of `PUT sys/audit/:path`, as Vault clients send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableBody {
    #[serde(rename = "type")]
    kind: DeviceType,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    options: Option<Map>,
    /// Vault's "do not replicate"; Lessor has no replication, so it changes nothing.
    #[serde(default)]
    #[allow(dead_code)]
    local: bool,
}

/// No `Debug`: `input` is typically a token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashBody {
    input: String,
}

/// `GET sys/audit`: the devices by path, with their options (never their salts).
pub(super) fn list(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let mut data = Map::new();
    for entry in sys.unsealed.audit().list() {
        data.insert(
            entry.path.clone(),
            serde_json::json!({
                "type": entry.kind,
                "description": entry.description,
                "options": entry.options.to_map(),
                "local": false,
                "path": entry.path,
            }),
        );
    }
    Ok(LogicalResponse::data(data))
}

/// `PUT sys/audit/:path` enables, `DELETE` disables.
pub(super) async fn device(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let path = sys.params.get("path");
    let audit = sys.unsealed.audit();
    if sys.request.operation == Operation::Delete {
        audit.disable(path).await?;
        return Ok(LogicalResponse::no_content());
    }
    // An unsupported type is refused by the decoder, naming the supported ones.
    let body: EnableBody = sys.decode()?;
    let options = DeviceOptions::parse(body.kind, &body.options.unwrap_or_default())?;
    audit
        .enable(
            path,
            body.kind,
            body.description.unwrap_or_default(),
            options,
        )
        .await?;
    Ok(LogicalResponse::no_content())
}

/// `POST sys/audit-hash/:path`: `{input}` → `{hash}`, for grepping a log for a known value.
pub(super) fn hash(sys: &SysRequest<'_>) -> Result<LogicalResponse, ApiError> {
    let body: HashBody = sys.decode()?;
    let hash = sys
        .unsealed
        .audit()
        .hash(sys.params.get("path"), &body.input)?;
    object(serde_json::json!({ "hash": hash }))
}
