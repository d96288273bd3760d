//! Vault's response envelope. Every success carries `request_id`, `lease_id`, `renewable`,
//! `lease_duration`, `data`, `wrap_info`, `warnings` and `auth` (vaultrs rejects responses
//! missing any of the first four).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::request::{AuthBlock, LogicalResponse};

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    request_id: &'a str,
    lease_id: &'a str,
    renewable: bool,
    lease_duration: u64,
    data: Option<&'a lessor_sdk::Map>,
    wrap_info: Option<()>,
    warnings: Option<&'a [String]>,
    auth: Option<AuthJson<'a>>,
    mount_type: &'a str,
}

#[derive(Debug, Serialize)]
struct AuthJson<'a> {
    client_token: &'a str,
    accessor: &'a str,
    policies: &'a [String],
    token_policies: &'a [String],
    identity_policies: Option<()>,
    /// `null` when empty, as Vault renders it.
    metadata: Option<&'a std::collections::BTreeMap<String, String>>,
    lease_duration: u64,
    renewable: bool,
    entity_id: &'a str,
    token_type: &'a str,
    orphan: bool,
    mfa_requirement: Option<()>,
    num_uses: u32,
}

impl<'a> From<&'a AuthBlock> for AuthJson<'a> {
    fn from(auth: &'a AuthBlock) -> Self {
        AuthJson {
            client_token: auth.client_token.as_str(),
            accessor: &auth.accessor,
            policies: &auth.policies,
            token_policies: &auth.token_policies,
            identity_policies: None,
            metadata: (!auth.metadata.is_empty()).then_some(&auth.metadata),
            lease_duration: auth.lease_duration,
            renewable: auth.renewable,
            entity_id: "",
            token_type: "service",
            orphan: auth.orphan,
            mfa_requirement: None,
            num_uses: auth.num_uses,
        }
    }
}

/// Renders a core response: 204 when there is nothing to say, the envelope otherwise.
pub fn render(request_id: &str, response: &LogicalResponse) -> Response {
    if response.data.is_none()
        && response.auth.is_none()
        && response.warnings.is_empty()
        && response.lease_id.is_empty()
    {
        return StatusCode::NO_CONTENT.into_response();
    }
    let envelope = Envelope {
        request_id,
        lease_id: &response.lease_id,
        renewable: response.renewable,
        lease_duration: response.lease_duration,
        data: response.data.as_ref(),
        wrap_info: None,
        warnings: (!response.warnings.is_empty()).then_some(response.warnings.as_slice()),
        auth: response.auth.as_ref().map(AuthJson::from),
        mount_type: "",
    };
    (StatusCode::OK, Json(envelope)).into_response()
}
