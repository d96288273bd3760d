//! The broker's own request and response types, between the HTTP layer and the core. They
//! know nothing of HTTP; `http/` builds them from axum requests and renders them as Vault
//! envelopes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use lessor_sdk::{Map, Operation};
use zeroize::Zeroizing;

/// A token as presented by a client. Never logged, never printed.
#[derive(Clone)]
pub struct ClientToken(pub Zeroizing<String>);

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientToken(<redacted>)")
    }
}

/// One API request after transport decoding.
#[derive(Debug, Clone)]
pub struct LogicalRequest {
    pub id: String,
    pub operation: Operation,
    /// Without `/v1/` and without a leading slash: `secret/data/app`.
    pub path: String,
    /// Body for writes, query parameters for reads/lists/deletes.
    pub data: Map,
    pub token: Option<ClientToken>,
    pub remote_addr: Option<SocketAddr>,
}

/// A minted token as the Vault envelope's `auth` block shows it.
#[derive(Debug, Clone)]
pub struct AuthBlock {
    pub client_token: Zeroizing<String>,
    pub accessor: String,
    pub policies: Vec<String>,
    pub token_policies: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub lease_duration: u64,
    pub renewable: bool,
    pub orphan: bool,
    pub num_uses: u32,
}

/// What the core answers.
#[derive(Debug, Default)]
pub struct LogicalResponse {
    /// `None` renders as 204 No Content (unless `auth` or warnings are present).
    pub data: Option<Map>,
    pub auth: Option<AuthBlock>,
    pub lease_id: String,
    pub lease_duration: u64,
    pub renewable: bool,
    pub warnings: Vec<String>,
}

impl LogicalResponse {
    pub fn data(data: Map) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    pub fn no_content() -> Self {
        Self::default()
    }
}
