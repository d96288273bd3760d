//! `roles/:name`: what a credential request creates — the statements to run on which
//! connection, and the TTLs. Storage key: `roles/<name>`.

use lessor_sdk::{EngineContext, MountStorageExt, Operation, Request, Response, Ttl};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config;
use crate::error::PgError;
use crate::fields::{self, check_name};
use crate::statements;

/// A stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Role {
    pub db_name: String,
    pub creation_statements: Vec<String>,
    pub revocation_statements: Vec<String>,
    pub rollback_statements: Vec<String>,
    pub renew_statements: Vec<String>,
    pub default_ttl: Ttl,
    pub max_ttl: Ttl,
}

pub(crate) fn storage_key(name: &str) -> String {
    format!("roles/{name}")
}

pub(crate) async fn load(ctx: &EngineContext, name: &str) -> Result<Option<Role>, PgError> {
    Ok(ctx.storage.get_json(&storage_key(name)).await?)
}

/// Every field Vault documents for dynamic roles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    name: Option<String>,
    db_name: Option<String>,
    #[serde(default, deserialize_with = "fields::statement_list")]
    creation_statements: Option<Vec<String>>,
    #[serde(default, deserialize_with = "fields::statement_list")]
    revocation_statements: Option<Vec<String>>,
    #[serde(default, deserialize_with = "fields::statement_list")]
    rollback_statements: Option<Vec<String>>,
    #[serde(default, deserialize_with = "fields::statement_list")]
    renew_statements: Option<Vec<String>>,
    default_ttl: Option<Ttl>,
    max_ttl: Option<Ttl>,
    /// Only `password` is implemented.
    credential_type: Option<String>,
    credential_config: Option<Value>,
}

pub(crate) async fn read(ctx: &EngineContext, request: &Request) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("role", name).map_err(PgError::Invalid)?;
    let role = load(ctx, name).await?.ok_or(PgError::NotFound)?;
    Response::from_serialize(&json!({
        "db_name": role.db_name,
        "creation_statements": role.creation_statements,
        "revocation_statements": role.revocation_statements,
        "rollback_statements": role.rollback_statements,
        "renew_statements": role.renew_statements,
        "default_ttl": role.default_ttl.as_secs(),
        "max_ttl": role.max_ttl.as_secs(),
        "credential_type": "password",
    }))
    .map_err(|error| PgError::Internal(error.to_string()))
}

pub(crate) async fn list(ctx: &EngineContext) -> Result<Response, PgError> {
    Ok(Response::list(ctx.storage.list("roles/").await?))
}

pub(crate) async fn write(ctx: &EngineContext, request: &Request) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("role", name).map_err(PgError::Invalid)?;
    let body: RoleRequest = request
        .decode()
        .map_err(|error| PgError::Invalid(error.to_string()))?;
    if body.name.as_deref().is_some_and(|n| n != name) {
        return Err(PgError::invalid("name in the body differs from the path"));
    }
    if body
        .credential_type
        .as_deref()
        .is_some_and(|t| !t.is_empty() && t != "password")
    {
        return Err(PgError::invalid(
            "only credential_type \"password\" is supported",
        ));
    }
    if fields::is_set(&body.credential_config) {
        return Err(PgError::invalid("credential_config is not supported"));
    }

    let existing = load(ctx, name).await?;
    let mut role = match existing {
        Some(role) if request.operation != Operation::Create => role,
        _ => Role::default(),
    };
    if let Some(db_name) = body.db_name {
        role.db_name = db_name;
    }
    let checks = [
        (
            &body.creation_statements,
            &mut role.creation_statements,
            statements::CREATION,
            "creation_statements",
        ),
        (
            &body.revocation_statements,
            &mut role.revocation_statements,
            statements::REVOCATION,
            "revocation_statements",
        ),
        (
            &body.rollback_statements,
            &mut role.rollback_statements,
            statements::REVOCATION,
            "rollback_statements",
        ),
        (
            &body.renew_statements,
            &mut role.renew_statements,
            statements::RENEWAL,
            "renew_statements",
        ),
    ];
    for (given, stored, allowed, field) in checks {
        if let Some(given) = given {
            statements::validate(given, allowed)
                .map_err(|error| PgError::invalid(format!("{field}: {error}")))?;
            stored.clone_from(given);
        }
    }
    if let Some(ttl) = body.default_ttl {
        role.default_ttl = ttl;
    }
    if let Some(ttl) = body.max_ttl {
        role.max_ttl = ttl;
    }

    if role.db_name.is_empty() {
        return Err(PgError::invalid("database name is required"));
    }
    if role.creation_statements.is_empty() {
        return Err(PgError::invalid("creation_statements are required"));
    }
    if !role.max_ttl.is_zero() && role.default_ttl > role.max_ttl {
        return Err(PgError::invalid(
            "default_ttl cannot be greater than max_ttl",
        ));
    }
    let connection = config::load(ctx, &role.db_name).await?.ok_or_else(|| {
        PgError::invalid(format!("database config {:?} does not exist", role.db_name))
    })?;
    if !connection.allows(name) {
        return Err(PgError::invalid(format!(
            "role {name:?} is not in the allowed_roles of database config {:?}",
            role.db_name
        )));
    }
    ctx.storage.put_json(&storage_key(name), &role).await?;
    Ok(Response::no_content())
}

pub(crate) async fn delete(ctx: &EngineContext, request: &Request) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("role", name).map_err(PgError::Invalid)?;
    ctx.storage.delete(&storage_key(name)).await?;
    Ok(Response::no_content())
}
