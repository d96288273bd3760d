//! `sys/policies/acl` and the legacy `sys/policy` paths.

use lessor_sdk::Operation;
use serde::Deserialize;

use super::{SysRequest, object};
use crate::error::ApiError;
use crate::request::LogicalResponse;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    /// Vault's current API names the field `policy`; its legacy API accepted `rules` too.
    #[serde(alias = "rules")]
    policy: String,
    /// Some clients (vaultrs) repeat the name from the path in the body.
    #[serde(default)]
    name: Option<String>,
}

pub(super) async fn list(sys: &SysRequest<'_>, legacy: bool) -> Result<LogicalResponse, ApiError> {
    let names = sys.unsealed.policies().list().await?;
    if legacy {
        object(serde_json::json!({ "policies": names, "keys": names }))
    } else {
        object(serde_json::json!({ "keys": names }))
    }
}

pub(super) async fn policy(
    sys: &SysRequest<'_>,
    legacy: bool,
) -> Result<LogicalResponse, ApiError> {
    let name = sys.params.get("name");
    let store = sys.unsealed.policies();
    match sys.request.operation {
        Operation::Read => {
            let policy = store
                .read(name)
                .await?
                .ok_or_else(|| ApiError::NotFound(String::new()))?;
            if legacy {
                object(serde_json::json!({ "name": policy.name(), "rules": policy.raw() }))
            } else {
                object(serde_json::json!({ "name": policy.name(), "policy": policy.raw() }))
            }
        }
        Operation::Delete => {
            store.delete(name).await?;
            Ok(LogicalResponse::no_content())
        }
        _ => {
            let body: PolicyBody = sys.decode()?;
            if body
                .name
                .as_ref()
                .is_some_and(|given| !given.eq_ignore_ascii_case(name))
            {
                return Err(ApiError::invalid(
                    "the policy name in the body differs from the path",
                ));
            }
            store.write(name, &body.policy).await?;
            Ok(LogicalResponse::no_content())
        }
    }
}
