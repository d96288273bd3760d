//! `creds/:role` and the lifecycle of what it creates: issuing a database user under a lease,
//! renewing it (moving `VALID UNTIL`), and revoking it.
//!
//! Crash safety (architecture invariant 3): the lease intent is begun, with everything
//! revocation needs, *before* the user is created. If creation fails, the client goes away or
//! the broker dies, the broker later calls [`revoke`] with that payload; revocation treats a
//! user that never came to exist as already revoked.

use std::time::Duration;

use lessor_sdk::{EngineContext, LeaseSpec, LeasedSecret, Map, RenewOutcome, Request, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::Backend;
use crate::config;
use crate::database::NewUser;
use crate::error::PgError;
use crate::fields::check_name;
use crate::password;
use crate::role::{self, Role};
use crate::username::UsernameInputs;

/// The lease kind of everything this engine issues.
pub(crate) const KIND: &str = "creds";

/// Vault's expiration format, so custom statements written for Vault keep working.
const EXPIRATION_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]+0000");

/// What renewal and revocation need, stored encrypted with the lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CredsLease {
    pub db_name: String,
    pub role: String,
    pub username: String,
    /// The role's statements at issue time, used if the role is deleted before the lease.
    #[serde(default)]
    pub revocation_statements: Vec<String>,
}

pub(crate) fn format_expiration(at: OffsetDateTime) -> Result<String, PgError> {
    at.to_offset(time::UtcOffset::UTC)
        .format(EXPIRATION_FORMAT)
        .map_err(|error| PgError::Internal(format!("expiration does not format: {error}")))
}

/// The TTL of a new lease: the role's default (else the mount's), capped by the role's and
/// the mount's maximum.
fn initial_ttl(ctx: &EngineContext, role: &Role) -> Duration {
    let wanted = if role.default_ttl.is_zero() {
        ctx.default_lease_ttl
    } else {
        role.default_ttl.0
    };
    wanted.min(max_ttl(ctx, role))
}

fn max_ttl(ctx: &EngineContext, role: &Role) -> Duration {
    if role.max_ttl.is_zero() {
        ctx.max_lease_ttl
    } else {
        role.max_ttl.0.min(ctx.max_lease_ttl)
    }
}

pub(crate) async fn issue(
    backend: &Backend,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, PgError> {
    let role_name = request.params.get("name");
    check_name("role", role_name).map_err(PgError::Invalid)?;
    let role = role::load(ctx, role_name)
        .await?
        .ok_or_else(|| PgError::invalid(format!("unknown role: {role_name}")))?;
    let db = config::load(ctx, &role.db_name).await?.ok_or_else(|| {
        PgError::invalid(format!("database config {:?} does not exist", role.db_name))
    })?;
    if !db.allows(role_name) {
        return Err(PgError::invalid(format!(
            "role {role_name:?} is not allowed by database config {:?}",
            role.db_name
        )));
    }

    let now = ctx.clock.now();
    let ttl = initial_ttl(ctx, &role);
    let display_name = request
        .client
        .as_ref()
        .map_or("", |client| client.display_name.as_str());
    let username = db.username_template()?.render(&UsernameInputs {
        display_name,
        role_name,
        now,
    });
    let password = password::generate();
    let statement_password = db
        .password_authentication
        .statement_value(&password)
        .map_err(PgError::Internal)?;
    let expiration = format_expiration(now + ttl)?;

    let lease = CredsLease {
        db_name: role.db_name.clone(),
        role: role_name.to_string(),
        username: username.clone(),
        revocation_statements: role.revocation_statements.clone(),
    };
    let payload = serde_json::to_value(&lease)
        .map_err(|error| PgError::Internal(format!("lease payload: {error}")))?;
    // Invariant 3: the intent is durable before the database is touched.
    let lease_id = ctx
        .leases
        .begin(&request.path, KIND, payload.clone())
        .await
        .map_err(|error| PgError::Internal(format!("beginning the lease intent: {error}")))?;

    let manager = backend.manager(ctx, &role.db_name, &db).await?;
    let comment = format!("lessor lease {lease_id} mount {}", ctx.mount_path);
    let _permit = backend
        .issue_lock(ctx, &role.db_name, role_name)
        .acquire_owned()
        .await
        .map_err(|_| PgError::Internal("the issue limiter was closed".into()))?;
    manager
        .create(NewUser {
            username: &username,
            password: &statement_password,
            expiration: &expiration,
            statements: &role.creation_statements,
            comment: &comment,
        })
        .await?;
    tracing::info!(role = role_name, db = %role.db_name, username, "issued database user");

    let mut data = Map::new();
    data.insert("username".into(), username.into());
    data.insert("password".into(), password.expose().into());
    let mut response = Response::with_data(data);
    response.secret = Some(LeaseSpec {
        intent: Some(lease_id),
        kind: KIND.to_string(),
        ttl,
        max_ttl: (!role.max_ttl.is_zero()).then_some(role.max_ttl.0),
        renewable: true,
        payload,
    });
    Ok(response)
}

pub(crate) async fn renew(
    backend: &Backend,
    ctx: &EngineContext,
    secret: &LeasedSecret,
    increment: Option<Duration>,
) -> Result<RenewOutcome, PgError> {
    let lease: CredsLease = secret
        .decode()
        .map_err(|error| PgError::Internal(error.to_string()))?;
    let role = role::load(ctx, &lease.role).await?.ok_or_else(|| {
        PgError::invalid(format!(
            "role {:?} no longer exists; the lease cannot be renewed",
            lease.role
        ))
    })?;
    let db = config::load(ctx, &lease.db_name).await?.ok_or_else(|| {
        PgError::invalid(format!(
            "database config {:?} no longer exists; the lease cannot be renewed",
            lease.db_name
        ))
    })?;

    let now = ctx.clock.now();
    let wanted = match increment.filter(|i| !i.is_zero()) {
        Some(increment) => increment,
        None if role.default_ttl.is_zero() => ctx.default_lease_ttl,
        None => role.default_ttl.0,
    };
    let limit = max_ttl(ctx, &role);
    let remaining = (secret.issue_time + limit - now)
        .try_into()
        .unwrap_or(Duration::ZERO);
    let mut warnings = Vec::new();
    let ttl = if wanted > remaining {
        warnings.push(format!(
            "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
            wanted.as_secs(),
            remaining.as_secs()
        ));
        remaining
    } else {
        wanted
    };
    if !ttl.is_zero() {
        let manager = backend.manager(ctx, &lease.db_name, &db).await?;
        manager
            .renew(
                &lease.username,
                &role.renew_statements,
                &format_expiration(now + ttl)?,
            )
            .await?;
    }
    Ok(RenewOutcome {
        ttl,
        payload: None,
        warnings,
    })
}

pub(crate) async fn revoke(
    backend: &Backend,
    ctx: &EngineContext,
    secret: &LeasedSecret,
) -> Result<(), PgError> {
    let lease: CredsLease = secret
        .decode()
        .map_err(|error| PgError::Internal(error.to_string()))?;
    let db = config::load(ctx, &lease.db_name).await?.ok_or_else(|| {
        // Not idempotent-success: the user may exist and we can no longer reach it. The
        // broker retries, then marks the lease irrevocable for an operator.
        PgError::Upstream(format!(
            "database config {:?} no longer exists; cannot revoke user {:?}",
            lease.db_name, lease.username
        ))
    })?;
    // The role's current statements win (an operator may have fixed them); a deleted role
    // falls back to those captured at issue.
    let statements = match role::load(ctx, &lease.role).await? {
        Some(role) => role.revocation_statements,
        None => lease.revocation_statements.clone(),
    };
    let manager = backend.manager(ctx, &lease.db_name, &db).await?;
    manager.drop_user(&lease.username, &statements).await?;
    tracing::info!(db = %lease.db_name, username = %lease.username, "revoked database user");
    Ok(())
}
