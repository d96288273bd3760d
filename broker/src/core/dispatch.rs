//! The request pipeline: route → authenticate → decide create/update → authorize → dispatch.
//!
//! Architecture invariant: every request that is not to an unauthenticated route passes
//! token authentication and the ACL check here, before any backend sees it. Backends never
//! authorize on their own behalf (beyond login checks).

use std::sync::Arc;

use lessor_policy::{Acl, Capability};
use lessor_sdk::{ClientInfo, Operation, Params, Request, Response, Route};
use lessor_token::{TokenEntry, TokenResponse};
use zeroize::Zeroizing;

use super::Unsealed;
use crate::audit::RequestAudit;
use crate::error::ApiError;
use crate::lease::{MountIntents, RequestIntents};
use crate::mount::{Mounted, MountedBackend, Target};
use crate::request::{AuthBlock, LogicalRequest, LogicalResponse};
use crate::system;

/// An authenticated caller and what they may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub entry: TokenEntry,
    pub acl: Arc<Acl>,
}

impl Caller {
    pub fn client_info(&self) -> ClientInfo {
        ClientInfo {
            accessor: self.entry.accessor.clone(),
            policies: self.entry.policies.clone(),
            display_name: self.entry.display_name.clone(),
            metadata: self.entry.meta.clone(),
        }
    }
}

/// The route a relative path matches, or 404 (nothing matches) / 405 (matched, but not for
/// this operation).
pub(crate) fn resolve<'a>(
    routes: &'a [Route],
    relative: &str,
    operation: Operation,
) -> Result<(&'a Route, Params), ApiError> {
    let mut matched_any = false;
    for route in routes {
        if let Some(params) = route.pattern.matches(relative) {
            matched_any = true;
            let supported = route.supports(operation)
                || (operation == Operation::Update && route.supports(Operation::Create));
            if supported {
                return Ok((route, params));
            }
        }
    }
    if matched_any {
        Err(ApiError::UnsupportedOperation)
    } else {
        Err(ApiError::NotFound(String::new()))
    }
}

fn capability(operation: Operation) -> Capability {
    match operation {
        Operation::Read => Capability::Read,
        Operation::Create => Capability::Create,
        Operation::Update => Capability::Update,
        Operation::Patch => Capability::Patch,
        Operation::Delete => Capability::Delete,
        Operation::List => Capability::List,
    }
}

impl Unsealed {
    /// Every logical request, audited: the request line is written right before a backend
    /// runs (or with the error, if it never does), the response line when the answer is known.
    pub async fn handle(&self, request: LogicalRequest) -> Result<LogicalResponse, ApiError> {
        let mut audit = self.audit.begin(&request);
        let result = self.route_request(request, &mut audit).await;
        audit.finish(result)
    }

    async fn route_request(
        &self,
        request: LogicalRequest,
        audit: &mut RequestAudit<'_>,
    ) -> Result<LogicalResponse, ApiError> {
        let router = self.router();
        let Some((target, relative)) = router.route(&request.path) else {
            // Say nothing about the mount layout to callers without a valid token.
            self.authenticate(&request).await?;
            return Err(ApiError::NotFound(format!(
                "no handler for route {:?}",
                request.path
            )));
        };
        match target {
            Target::System => system::handle(self, request, &relative, audit).await,
            Target::Token => self.handle_token(request, &relative, audit).await,
            Target::Mount(mounted) => self.handle_mount(&mounted, request, &relative, audit).await,
        }
    }

    /// Checks the request's token; `PermissionDenied` when missing, unknown, expired or
    /// used up. Counts one use of a limited-use token.
    pub(crate) async fn authenticate(&self, request: &LogicalRequest) -> Result<Caller, ApiError> {
        let token = request.token.as_ref().ok_or(ApiError::PermissionDenied)?;
        let entry = self
            .tokens
            .authenticate(token.0.as_str())
            .await
            .map_err(ApiError::from)?;
        let acl = self.policies.acl(&entry.policies).await?;
        Ok(Caller { entry, acl })
    }

    /// Authorizes `operation` on the full request path, recording the decision in the
    /// request's audit trail; `sudo_required` adds the sudo check of Vault's root-protected
    /// paths. Returns whether the matched rule grants sudo.
    pub(crate) fn authorize_audited(
        &self,
        audit: &mut RequestAudit<'_>,
        caller: &Caller,
        path: &str,
        operation: Operation,
        request: &LogicalRequest,
        sudo_required: bool,
    ) -> Result<bool, ApiError> {
        let decision = caller
            .acl
            .authorize(path, capability(operation), Some(&request.data));
        audit.decided(caller, operation, &decision, sudo_required);
        if !decision.allowed || (sudo_required && !decision.sudo) {
            tracing::info!(
                request_id = %request.id,
                accessor = %caller.entry.accessor,
                path,
                operation = %operation,
                sudo_required,
                "request denied by policy"
            );
            return Err(ApiError::PermissionDenied);
        }
        Ok(decision.sudo)
    }

    async fn handle_mount(
        &self,
        mounted: &Arc<Mounted>,
        mut request: LogicalRequest,
        relative: &str,
        audit: &mut RequestAudit<'_>,
    ) -> Result<LogicalResponse, ApiError> {
        let (route, params) = match resolve(&mounted.routes, relative, request.operation) {
            Ok(resolved) => resolved,
            Err(error) => {
                // Only an authenticated caller learns which paths a mount serves.
                self.authenticate(&request).await?;
                return Err(error);
            }
        };
        crate::metrics::route::matched(&mounted.entry.path, route.pattern.source());
        let caller = if route.unauthenticated {
            None
        } else {
            Some(self.authenticate(&request).await?)
        };
        let mut engine_request = Request {
            id: request.id.clone(),
            operation: request.operation,
            route: route.pattern.source(),
            path: relative.to_string(),
            params,
            data: std::mem::take(&mut request.data),
            client: caller.as_ref().map(Caller::client_info),
            mount_path: mounted.entry.path.clone(),
        };
        // Policies grant create and update separately; ask the backend which one this is.
        if engine_request.operation == Operation::Update && route.supports(Operation::Create) {
            let exists = match &mounted.backend {
                MountedBackend::Secret(engine) => {
                    engine.exists(&mounted.ctx, &engine_request).await?
                }
                MountedBackend::Auth(method) => {
                    method.exists(&mounted.ctx, &engine_request).await?
                }
            };
            if !exists {
                engine_request.operation = Operation::Create;
            }
        }
        if let Some(caller) = &caller {
            request.data = engine_request.data.clone();
            self.authorize_audited(
                audit,
                caller,
                &request.path,
                engine_request.operation,
                &request,
                false,
            )?;
        }
        audit.admit(caller.as_ref())?;
        let relative_path = engine_request.path.clone();
        // A request-scoped view of the mount's intents: what this request began and did not
        // register is revoked as soon as the request ends.
        let intents = Arc::new(RequestIntents::new(MountIntents::new(
            &self.leases,
            mounted.entry.path.clone(),
        )));
        let ctx = lessor_sdk::EngineContext {
            leases: intents.clone(),
            ..mounted.ctx.clone()
        };
        let response = match &mounted.backend {
            MountedBackend::Secret(engine) => engine.handle(&ctx, engine_request).await,
            MountedBackend::Auth(method) => method.handle(&ctx, engine_request).await,
        };
        let registered = response
            .as_ref()
            .ok()
            .and_then(|response| response.secret.as_ref())
            .and_then(|secret| secret.intent.clone());
        let result = match response {
            Ok(response) => {
                self.finish(mounted, &relative_path, caller.as_ref(), response)
                    .await
            }
            Err(error) => Err(error.into()),
        };
        let mut leftover = intents.begun();
        if result.is_ok() {
            leftover.retain(|id| Some(id) != registered.as_ref());
        }
        self.leases.abandon_intents(leftover);
        result
    }

    /// Turns an engine response into the broker's: registers the lease of a secret (owned
    /// by the caller's token) and mints the token of a login.
    async fn finish(
        &self,
        mounted: &Arc<Mounted>,
        request_path: &str,
        caller: Option<&Caller>,
        response: Response,
    ) -> Result<LogicalResponse, ApiError> {
        let mut extra_warnings = Vec::new();
        let mut lease = None;
        if let Some(spec) = response.secret {
            let owner = caller.map(|caller| (caller.entry.hash.clone(), caller.entry.expire_time));
            let registered = self
                .leases
                .register(&mounted.entry.path, request_path, spec, owner)
                .await
                .map_err(ApiError::from)?;
            lease = Some(registered);
        }
        let auth = match response.auth {
            None => None,
            Some(grant) => {
                let (issued, warnings) = self
                    .tokens
                    .issue_from_grant(&grant, &mounted.entry.path, request_path)
                    .await
                    .map_err(ApiError::from)?;
                extra_warnings = warnings;
                self.track_token(&issued.entry).await?;
                Some(auth_block(
                    &issued.entry,
                    Some(&issued.client_token),
                    self.tokens.now(),
                ))
            }
        };
        let mut warnings = response.warnings;
        warnings.extend(extra_warnings);
        Ok(LogicalResponse {
            data: response.data,
            auth,
            warnings,
            lease_id: lease
                .as_ref()
                .map(|l| l.lease_id.clone())
                .unwrap_or_default(),
            lease_duration: lease.as_ref().map_or(0, |l| l.ttl.as_secs()),
            renewable: lease.as_ref().is_some_and(|l| l.renewable),
        })
    }
}

impl Unsealed {
    /// `auth/token/*`: the built-in token store's endpoints.
    pub(super) async fn handle_token(
        &self,
        mut request: LogicalRequest,
        relative: &str,
        audit: &mut RequestAudit<'_>,
    ) -> Result<LogicalResponse, ApiError> {
        let caller = self.authenticate(&request).await?;
        let (route, params) = resolve(&self.token_routes, relative, request.operation)?;
        crate::metrics::route::matched(crate::mount::TOKEN_PREFIX, route.pattern.source());
        // Listing every accessor is root-protected, as in Vault.
        let sudo_required = route.pattern.source() == "accessors";
        let sudo = self.authorize_audited(
            audit,
            &caller,
            &request.path,
            request.operation,
            &request,
            sudo_required,
        )?;
        audit.admit(Some(&caller))?;
        let presented = request
            .token
            .as_ref()
            .map(|token| lessor_token::SecretToken::new(token.0.as_str()))
            .ok_or(ApiError::PermissionDenied)?;
        let token_caller = lessor_token::Caller {
            token: presented,
            entry: caller.entry.clone(),
            sudo,
        };
        let token_request = Request {
            id: request.id.clone(),
            operation: request.operation,
            route: route.pattern.source(),
            path: relative.to_string(),
            params,
            data: std::mem::take(&mut request.data),
            client: Some(caller.client_info()),
            mount_path: crate::mount::TOKEN_PREFIX.to_string(),
        };
        // The token store's own (whole-second) clock, so a 1 h token shows 3600, not 3599.
        let now = self.tokens.now();
        let response = self
            .token_endpoints
            .handle(&token_request, &token_caller)
            .await
            .map_err(ApiError::from)?;
        match &response {
            TokenResponse::Issued { token, .. } => self.track_token(&token.entry).await?,
            TokenResponse::Renewed { entry, .. } => self.track_token(entry).await?,
            TokenResponse::Data(_) | TokenResponse::NoContent => {}
        }
        Ok(match response {
            TokenResponse::Data(map) => LogicalResponse::data(map),
            TokenResponse::NoContent => LogicalResponse::no_content(),
            TokenResponse::Issued { token, warnings } => LogicalResponse {
                auth: Some(auth_block(&token.entry, Some(&token.client_token), now)),
                warnings,
                ..LogicalResponse::default()
            },
            TokenResponse::Renewed { entry, warnings } => LogicalResponse {
                auth: Some(auth_block(&entry, None, now)),
                warnings,
                ..LogicalResponse::default()
            },
        })
    }
}

impl Unsealed {
    /// Tokens with a TTL are leases too: the expiration manager revokes them on time.
    async fn track_token(&self, entry: &TokenEntry) -> Result<(), ApiError> {
        match entry.expire_time {
            Some(expire) => self
                .leases
                .track_token(&entry.hash, expire)
                .await
                .map_err(ApiError::from),
            None => Ok(()),
        }
    }
}

/// The Vault `auth` block for a token; `client_token` is empty when renewing by accessor.
pub(crate) fn auth_block(
    entry: &TokenEntry,
    client_token: Option<&lessor_token::SecretToken>,
    now: time::OffsetDateTime,
) -> AuthBlock {
    AuthBlock {
        client_token: Zeroizing::new(
            client_token
                .map(|t| t.expose().to_string())
                .unwrap_or_default(),
        ),
        accessor: entry.accessor.clone(),
        policies: entry.policies.clone(),
        token_policies: entry.policies.clone(),
        metadata: entry.meta.clone(),
        lease_duration: entry.ttl_remaining(now),
        renewable: entry.renewable,
        orphan: entry.is_orphan(),
        num_uses: entry.num_uses,
    }
}
