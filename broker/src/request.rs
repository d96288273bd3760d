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

/// One API request after transport decoding. `Debug` shows the body's field names only:
/// the values can be passwords, JWTs or secrets being written.
#[derive(Clone)]
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

/// A minted token as the Vault envelope's `auth` block shows it. `Debug` leaves the token out.
#[derive(Clone)]
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

impl std::fmt::Debug for LogicalRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogicalRequest")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_fields", &self.data.keys().collect::<Vec<_>>())
            .field("token", &self.token)
            .field("remote_addr", &self.remote_addr)
            .finish()
    }
}

impl std::fmt::Debug for AuthBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBlock")
            .field("client_token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_tokens() {
        let auth = AuthBlock {
            client_token: Zeroizing::new("hvs.secret-token-value".into()),
            accessor: "acc".into(),
            policies: vec!["default".into()],
            token_policies: vec!["default".into()],
            metadata: BTreeMap::new(),
            lease_duration: 60,
            renewable: true,
            orphan: false,
            num_uses: 0,
        };
        let response = LogicalResponse {
            auth: Some(auth),
            ..LogicalResponse::default()
        };
        assert!(!format!("{response:?}").contains("secret-token-value"));
        let token = ClientToken(Zeroizing::new("hvs.other-secret".into()));
        assert!(!format!("{token:?}").contains("other-secret"));
        let mut data = Map::new();
        data.insert("password".into(), "hunter2-password".into());
        let request = LogicalRequest {
            id: "r".into(),
            operation: Operation::Update,
            path: "auth/userpass/login/a".into(),
            data,
            token: Some(token),
            remote_addr: None,
        };
        let shown = format!("{request:?}");
        assert!(
            shown.contains("password") && !shown.contains("hunter2-password"),
            "{shown}"
        );
    }
}
