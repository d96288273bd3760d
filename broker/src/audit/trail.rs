//! The audit trail of one request, driven by `core::dispatch`:
//!
//! 1. [`Auditor::begin`] when the request enters the core (a snapshot of what was asked);
//! 2. [`RequestAudit::decided`] when the ACL has decided (who asked, allowed or not, why);
//! 3. [`RequestAudit::admit`] right before a backend runs: writes the request line, and
//!    refuses the request (500) if no device could record it;
//! 4. [`RequestAudit::finish`] when the core has its answer: writes the request line if the
//!    request never reached a backend (denied, unknown path, bad token), then the response
//!    line, and turns the answer into a 500 if no device could record it.
//!
//! With no device enabled every step returns at once and nothing is copied.

use std::collections::BTreeMap;

use lessor_audit::{Auth, Entry, EntryType, PolicyResults, Request, Response, Revoked};
use lessor_sdk::{Map, Operation};
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::{Auditor, Devices};
use crate::core::dispatch::Caller;
use crate::error::ApiError;
use crate::request::{LogicalRequest, LogicalResponse};

/// Who made the request, as far as the pipeline learned.
#[derive(Debug)]
struct Identity {
    accessor: String,
    display_name: String,
    policies: Vec<String>,
    metadata: BTreeMap<String, String>,
}

/// The ACL's verdict, kept for the request line.
#[derive(Debug)]
struct Verdict {
    allowed: bool,
    granting_policies: Vec<String>,
    matched_path: Option<String>,
    denied_reason: Option<String>,
}

/// The audit state of one request. See the module docs for the order of calls. `Debug` shows
/// neither the token nor the data.
pub(crate) struct RequestAudit<'a> {
    auditor: &'a Auditor,
    devices: Devices,
    id: String,
    operation: Operation,
    path: String,
    remote_address: Option<String>,
    token: Option<Zeroizing<String>>,
    /// The body or query as the client sent it (engines take ownership of the original).
    data: Map,
    identity: Option<Identity>,
    verdict: Option<Verdict>,
    request_recorded: bool,
}

impl std::fmt::Debug for RequestAudit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestAudit")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("devices", &self.devices.len())
            .field("request_recorded", &self.request_recorded)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Starts the trail of a request, against the devices enabled right now.
    pub(crate) fn begin(&self, request: &LogicalRequest) -> RequestAudit<'_> {
        let devices = self.devices();
        let enabled = !devices.is_empty();
        RequestAudit {
            auditor: self,
            devices,
            id: request.id.clone(),
            operation: request.operation,
            path: request.path.clone(),
            remote_address: request.remote_addr.map(|address| address.ip().to_string()),
            token: request
                .token
                .as_ref()
                .filter(|_| enabled)
                .map(|token| token.0.clone()),
            data: if enabled {
                request.data.clone()
            } else {
                Map::new()
            },
            identity: None,
            verdict: None,
            request_recorded: false,
        }
    }
}

impl RequestAudit<'_> {
    fn enabled(&self) -> bool {
        !self.devices.is_empty()
    }

    fn identify(&mut self, caller: &Caller) {
        if self.identity.is_some() || !self.enabled() {
            return;
        }
        self.identity = Some(Identity {
            accessor: caller.entry.accessor.clone(),
            display_name: caller.entry.display_name.clone(),
            policies: caller.entry.policies.clone(),
            metadata: caller.entry.meta.clone(),
        });
    }

    /// Records the ACL decision for `caller` (and the operation it was taken for: an update
    /// may have become a create).
    pub(crate) fn decided(
        &mut self,
        caller: &Caller,
        operation: Operation,
        decision: &lessor_policy::Decision,
        sudo_required: bool,
    ) {
        if !self.enabled() {
            return;
        }
        self.identify(caller);
        self.operation = operation;
        let lacks_sudo = decision.allowed && sudo_required && !decision.sudo;
        self.verdict = Some(Verdict {
            allowed: decision.allowed && !lacks_sudo,
            granting_policies: decision.granting_policies.clone(),
            matched_path: decision.matched.clone(),
            denied_reason: if lacks_sudo {
                Some("the path requires sudo".into())
            } else {
                decision.denied_reason.as_ref().map(ToString::to_string)
            },
        });
    }

    /// Writes the request line before a backend runs. `caller` is `None` on unauthenticated
    /// routes (logins). An error means no device could record it: the request must not run.
    pub(crate) fn admit(&mut self, caller: Option<&Caller>) -> Result<(), ApiError> {
        if !self.enabled() {
            return Ok(());
        }
        if let Some(caller) = caller {
            self.identify(caller);
        }
        self.request_recorded = true;
        let time = self.now();
        let entry = self.entry(EntryType::Request, &time, None, None);
        self.auditor.record(&self.devices, &entry)
    }

    /// Writes what is still unrecorded and hands the answer back, or a 500 when no device
    /// could record it. An answer that could not be recorded is not given out: a lease it
    /// created stays tracked and expires (or is revoked) as any other.
    pub(crate) fn finish(
        self,
        result: Result<LogicalResponse, ApiError>,
    ) -> Result<LogicalResponse, ApiError> {
        if !self.enabled() {
            return result;
        }
        let time = self.now();
        let error = result.as_ref().err().map(ToString::to_string);
        if !self.request_recorded {
            let entry = self.entry(EntryType::Request, &time, None, error.as_deref());
            self.auditor.record(&self.devices, &entry)?;
        }
        let response = match &result {
            Ok(answer) => Response {
                auth: answer.auth.as_ref().map(|auth| Auth {
                    client_token: Some(auth.client_token.as_str()).filter(|t| !t.is_empty()),
                    accessor: &auth.accessor,
                    display_name: None,
                    policies: &auth.policies,
                    metadata: &auth.metadata,
                    policy_results: None,
                }),
                lease_id: Some(answer.lease_id.as_str()).filter(|id| !id.is_empty()),
                revoked: revoked(&self.path, &self.data),
                data: answer.data.as_ref(),
            },
            Err(_) => Response::default(),
        };
        let entry = self.entry(EntryType::Response, &time, Some(response), error.as_deref());
        self.auditor.record(&self.devices, &entry)?;
        result
    }

    fn now(&self) -> String {
        self.auditor
            .clock()
            .now()
            .format(&Rfc3339)
            .unwrap_or_default()
    }

    fn entry<'s>(
        &'s self,
        kind: EntryType,
        time: &'s str,
        response: Option<Response<'s>>,
        error: Option<&'s str>,
    ) -> Entry<'s> {
        let token = self.token.as_ref().map(|token| token.as_str());
        let auth = self.identity.as_ref().map(|identity| Auth {
            client_token: token,
            accessor: &identity.accessor,
            display_name: Some(&identity.display_name),
            policies: &identity.policies,
            metadata: &identity.metadata,
            policy_results: self.verdict.as_ref().map(|verdict| PolicyResults {
                allowed: verdict.allowed,
                granting_policies: &verdict.granting_policies,
                matched_path: verdict.matched_path.as_deref(),
                denied_reason: verdict.denied_reason.as_deref(),
            }),
        });
        Entry {
            kind,
            time,
            auth,
            request: Request {
                id: &self.id,
                operation: self.operation.capability(),
                path: &self.path,
                remote_address: self.remote_address.as_deref(),
                client_token: token,
                client_token_accessor: self
                    .identity
                    .as_ref()
                    .map(|identity| identity.accessor.as_str()),
                data: Some(&self.data),
            },
            response,
            error,
        }
    }
}

/// The lease (or prefix) a revocation request named, for the response line. Read from the
/// request because the revocation endpoints answer 204 with nothing to say.
fn revoked<'a>(path: &'a str, data: &'a Map) -> Option<Revoked<'a>> {
    let path = path.trim_end_matches('/');
    for prefix in ["sys/leases/revoke-prefix/", "sys/leases/revoke-force/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return Some(Revoked::Prefix(rest));
        }
    }
    for prefix in ["sys/leases/revoke/", "sys/revoke/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return Some(Revoked::Lease(rest));
        }
    }
    if path == "sys/leases/revoke" || path == "sys/revoke" {
        return ["lease_id", "url_lease_id"]
            .iter()
            .find_map(|key| data.get(*key).and_then(|value| value.as_str()))
            .map(Revoked::Lease);
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn revocations_name_their_target() {
        let empty = Map::new();
        let lease = |r: Option<Revoked<'_>>| match r {
            Some(Revoked::Lease(id)) => id.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            lease(revoked("sys/leases/revoke/database/creds/app/x1", &empty)),
            "database/creds/app/x1"
        );
        assert_eq!(lease(revoked("sys/revoke/kv/a", &empty)), "kv/a");
        let serde_json::Value::Object(body) = json!({"lease_id": "database/creds/app/x2"}) else {
            unreachable!()
        };
        assert_eq!(
            lease(revoked("sys/leases/revoke", &body)),
            "database/creds/app/x2"
        );
        assert!(matches!(
            revoked("sys/leases/revoke-prefix/database/", &empty),
            Some(Revoked::Prefix("database"))
        ));
        assert!(revoked("sys/leases/renew", &body).is_none());
        assert!(revoked("database/creds/app", &body).is_none());
    }
}
