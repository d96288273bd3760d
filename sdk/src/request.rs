//! A request as an engine or auth method sees it: the path already relative to the mount,
//! the body and query merged into `data`, and who is asking (never their token).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::{EngineError, Map, Operation, Params};

/// One logical request, routed to a mount.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request id the client sees in the response envelope.
    pub id: String,
    pub operation: Operation,
    /// The source of the matched [`crate::RoutePattern`]; compare against your own constants.
    pub route: &'static str,
    /// The path below the mount, e.g. `data/app/config` for `secret/data/app/config`.
    pub path: String,
    /// Values captured by the route pattern.
    pub params: Params,
    /// The JSON body for writes; the query parameters for reads, lists and deletes.
    pub data: Map,
    /// The authenticated caller, absent on unauthenticated routes such as `login`.
    pub client: Option<ClientInfo>,
    /// Where the mount lives, with a trailing slash (`secret/`, `auth/kubernetes/`).
    pub mount_path: String,
}

impl Request {
    /// Decodes `data` into a typed request body. Wrong types, unknown fields (when the target
    /// type denies them) and missing required fields become a 400 naming the problem.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, EngineError> {
        serde_json::from_value(serde_json::Value::Object(self.data.clone()))
            .map_err(|error| EngineError::InvalidRequest(format!("invalid request body: {error}")))
    }
}

/// Who is making a request, as far as an engine needs to know.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The token's accessor: a public handle that identifies the token without being it.
    pub accessor: String,
    pub policies: Vec<String>,
    pub display_name: String,
    pub metadata: BTreeMap<String, String>,
}
