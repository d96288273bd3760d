//! `config/:name`: database connections. A connection holds the root credentials the engine
//! uses to create users; they are stored through the mount's (encrypted) storage and never
//! returned. Storage key: `config/<name>`.

use lessor_sdk::{EngineContext, MountStorageExt, Operation, Request, Response, Ttl};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Backend;
use crate::connection::{self, Target};
use crate::database::RoleManager;
use crate::error::PgError;
use crate::fields::{self, check_name};
use crate::password::{PasswordAuthentication, Secret};
use crate::pool::PoolLimits;
use crate::statements;
use crate::username::UsernameTemplate;

/// The only plugin this engine implements.
pub(crate) const PLUGIN_NAME: &str = "postgresql-database-plugin";
const DEFAULT_MAX_OPEN: i64 = 4;
const MAX_OPEN_LIMIT: i64 = 1000;

/// A stored connection config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DatabaseConfig {
    pub plugin_name: String,
    pub plugin_version: String,
    pub connection_url: String,
    pub username: String,
    pub password: Secret,
    /// A root password set by `rotate-root` that the database may or may not have taken yet
    /// (written before the `ALTER ROLE`, so a crash in between cannot lose it).
    #[serde(default)]
    pub pending_password: Option<Secret>,
    pub allowed_roles: Vec<String>,
    pub root_rotation_statements: Vec<String>,
    pub password_policy: String,
    pub max_open_connections: i64,
    pub max_idle_connections: i64,
    pub max_connection_lifetime: Ttl,
    pub username_template: String,
    pub disable_escaping: bool,
    pub password_authentication: PasswordAuthentication,
    pub verify_connection: bool,
    /// Changes on every write; pools built from an older revision are replaced.
    pub revision: u64,
}

impl DatabaseConfig {
    /// Whether `role` may use this connection (`*` globs, as Vault's `allowed_roles`).
    pub(crate) fn allows(&self, role: &str) -> bool {
        self.allowed_roles
            .iter()
            .any(|pattern| glob_matches(pattern, role))
    }

    pub(crate) fn target(&self, name: &str) -> Result<Target, PgError> {
        connection::target(name, &self.connection_url, &self.username, &self.password)
            .map_err(PgError::Invalid)
    }

    /// The same target, authenticating with `password` instead.
    pub(crate) fn target_with(&self, name: &str, password: &Secret) -> Result<Target, PgError> {
        connection::target(name, &self.connection_url, &self.username, password)
            .map_err(PgError::Invalid)
    }

    pub(crate) fn limits(&self) -> PoolLimits {
        let max_open = usize::try_from(self.max_open_connections.max(1)).unwrap_or(1);
        let max_idle = match self.max_idle_connections {
            0 => max_open,
            n if n < 0 => 0,
            n => usize::try_from(n).unwrap_or(max_open).min(max_open),
        };
        PoolLimits {
            max_open,
            max_idle,
            max_lifetime: (!self.max_connection_lifetime.is_zero())
                .then_some(self.max_connection_lifetime.0),
        }
    }

    pub(crate) fn username_template(&self) -> Result<UsernameTemplate, PgError> {
        UsernameTemplate::parse(&self.username_template).map_err(PgError::Invalid)
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = rest.split('*').collect();
    let last = pieces.pop().unwrap_or_default();
    for piece in pieces {
        match remaining.find(piece) {
            Some(index) => remaining = &remaining[index + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

pub(crate) fn storage_key(name: &str) -> String {
    format!("config/{name}")
}

pub(crate) async fn load(
    ctx: &EngineContext,
    name: &str,
) -> Result<Option<DatabaseConfig>, PgError> {
    Ok(ctx.storage.get_json(&storage_key(name)).await?)
}

pub(crate) async fn save(
    ctx: &EngineContext,
    name: &str,
    config: &DatabaseConfig,
) -> Result<(), PgError> {
    Ok(ctx.storage.put_json(&storage_key(name), config).await?)
}

/// Every field Vault documents for this path, with the PostgreSQL plugin's own fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRequest {
    name: Option<String>,
    plugin_name: Option<String>,
    plugin_version: Option<String>,
    #[serde(default, deserialize_with = "fields::flag")]
    verify_connection: Option<bool>,
    #[serde(default, deserialize_with = "fields::comma_list")]
    allowed_roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "fields::statement_list")]
    root_rotation_statements: Option<Vec<String>>,
    password_policy: Option<String>,
    connection_url: Option<String>,
    #[serde(default, deserialize_with = "fields::integer")]
    max_open_connections: Option<i64>,
    #[serde(default, deserialize_with = "fields::integer")]
    max_idle_connections: Option<i64>,
    max_connection_lifetime: Option<Ttl>,
    username: Option<String>,
    password: Option<Secret>,
    username_template: Option<String>,
    #[serde(default, deserialize_with = "fields::flag")]
    disable_escaping: Option<bool>,
    password_authentication: Option<String>,
    // Documented by Vault, not implemented here: refused unless left at their "off" value.
    tls_ca: Option<Value>,
    tls_certificate: Option<Value>,
    private_key: Option<Value>,
    auth_type: Option<Value>,
    service_account_json: Option<Value>,
    self_managed: Option<Value>,
    skip_static_role_import_rotation: Option<Value>,
    rotation_period: Option<Value>,
    rotation_schedule: Option<Value>,
    rotation_window: Option<Value>,
    disable_automated_rotation: Option<Value>,
}

impl ConfigRequest {
    fn refuse_unsupported(&self) -> Result<(), PgError> {
        let unsupported = [
            ("tls_ca", &self.tls_ca),
            ("tls_certificate", &self.tls_certificate),
            ("private_key", &self.private_key),
            ("auth_type", &self.auth_type),
            ("service_account_json", &self.service_account_json),
            ("self_managed", &self.self_managed),
            (
                "skip_static_role_import_rotation",
                &self.skip_static_role_import_rotation,
            ),
            ("rotation_period", &self.rotation_period),
            ("rotation_schedule", &self.rotation_schedule),
            ("rotation_window", &self.rotation_window),
            (
                "disable_automated_rotation",
                &self.disable_automated_rotation,
            ),
        ];
        for (field, value) in unsupported {
            if fields::is_set(value) {
                return Err(PgError::invalid(format!("{field} is not supported")));
            }
        }
        if self
            .password_policy
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return Err(PgError::invalid("password_policy is not supported"));
        }
        Ok(())
    }
}

pub(crate) async fn read(ctx: &EngineContext, request: &Request) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("connection", name).map_err(PgError::Invalid)?;
    let config = load(ctx, name).await?.ok_or(PgError::NotFound)?;
    let mut details = json!({
        "connection_url": connection::redact(&config.connection_url),
        "username": config.username,
        "max_open_connections": config.max_open_connections,
        "max_idle_connections": config.max_idle_connections,
        "max_connection_lifetime": format!("{}s", config.max_connection_lifetime.as_secs()),
        "password_authentication": config.password_authentication.as_str(),
        "disable_escaping": config.disable_escaping,
    });
    if !config.username_template.is_empty() {
        details["username_template"] = json!(config.username_template);
    }
    Response::from_serialize(&json!({
        "plugin_name": config.plugin_name,
        "plugin_version": config.plugin_version,
        "connection_details": details,
        "allowed_roles": config.allowed_roles,
        "root_credentials_rotate_statements": config.root_rotation_statements,
        "password_policy": config.password_policy,
        "verify_connection": config.verify_connection,
    }))
    .map_err(|error| PgError::Internal(error.to_string()))
}

pub(crate) async fn list(ctx: &EngineContext) -> Result<Response, PgError> {
    Ok(Response::list(ctx.storage.list("config/").await?))
}

pub(crate) async fn write(
    backend: &Backend,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("connection", name).map_err(PgError::Invalid)?;
    let body: ConfigRequest = request
        .decode()
        .map_err(|error| PgError::Invalid(error.to_string()))?;
    if body.name.as_deref().is_some_and(|n| n != name) {
        return Err(PgError::invalid("name in the body differs from the path"));
    }
    body.refuse_unsupported()?;

    let _guard = backend.config_lock(ctx, name).lock_owned().await;
    let existing = load(ctx, name).await?;
    let is_update = existing.is_some() && request.operation != Operation::Create;
    let config = merge(existing.filter(|_| is_update), body)?;
    if config.verify_connection {
        let pool = backend.unregistered_pool(name, &config)?;
        crate::database::PgRoleManager::new(pool)
            .verify()
            .await
            .map_err(|error| PgError::Invalid(format!("error verifying connection: {error}")))?;
    }
    save(ctx, name, &config).await?;
    backend.forget_pool(ctx, name);
    Ok(Response::no_content())
}

/// Applies the request over the stored config (update) or the defaults (create).
fn merge(existing: Option<DatabaseConfig>, body: ConfigRequest) -> Result<DatabaseConfig, PgError> {
    let mut config = existing.unwrap_or_else(|| DatabaseConfig {
        plugin_name: String::new(),
        plugin_version: String::new(),
        connection_url: String::new(),
        username: String::new(),
        password: Secret::default(),
        pending_password: None,
        allowed_roles: Vec::new(),
        root_rotation_statements: Vec::new(),
        password_policy: String::new(),
        max_open_connections: DEFAULT_MAX_OPEN,
        max_idle_connections: 0,
        max_connection_lifetime: Ttl::ZERO,
        username_template: String::new(),
        disable_escaping: false,
        password_authentication: PasswordAuthentication::Password,
        verify_connection: true,
        revision: 0,
    });
    if let Some(plugin_name) = body.plugin_name {
        config.plugin_name = plugin_name;
    }
    if config.plugin_name.is_empty() {
        return Err(PgError::invalid("empty plugin name"));
    }
    if config.plugin_name != PLUGIN_NAME {
        return Err(PgError::invalid(format!(
            "unsupported plugin_name {:?}: only {PLUGIN_NAME} is available",
            config.plugin_name
        )));
    }
    if let Some(version) = body.plugin_version {
        if !version.is_empty() {
            return Err(PgError::invalid(
                "plugin_version must be empty: the plugin is built in",
            ));
        }
        config.plugin_version = version;
    }
    // verify_connection is a property of this write, not sticky (Vault's rule).
    config.verify_connection = body.verify_connection.unwrap_or(true);
    if let Some(roles) = body.allowed_roles {
        config.allowed_roles = roles;
    }
    if let Some(statements) = body.root_rotation_statements {
        statements::validate(&statements, statements::ROOT_ROTATION)
            .map_err(|error| PgError::invalid(format!("root_rotation_statements: {error}")))?;
        config.root_rotation_statements = statements;
    }
    if let Some(url) = body.connection_url {
        config.connection_url = url;
    }
    if config.connection_url.trim().is_empty() {
        return Err(PgError::invalid("connection_url is required"));
    }
    if let Some(max_open) = body.max_open_connections {
        config.max_open_connections = if max_open == 0 {
            DEFAULT_MAX_OPEN
        } else {
            max_open
        };
    }
    if !(1..=MAX_OPEN_LIMIT).contains(&config.max_open_connections) {
        return Err(PgError::invalid(format!(
            "max_open_connections must be between 1 and {MAX_OPEN_LIMIT}"
        )));
    }
    if let Some(max_idle) = body.max_idle_connections {
        config.max_idle_connections = max_idle;
    }
    if let Some(lifetime) = body.max_connection_lifetime {
        config.max_connection_lifetime = lifetime;
    }
    if let Some(username) = body.username {
        config.username = username;
    }
    if let Some(password) = body.password {
        config.password = password;
        config.pending_password = None;
    }
    if let Some(template) = body.username_template {
        UsernameTemplate::parse(&template).map_err(PgError::Invalid)?;
        config.username_template = template;
    }
    if let Some(disable) = body.disable_escaping {
        config.disable_escaping = disable;
    }
    if let Some(method) = body.password_authentication {
        config.password_authentication = PasswordAuthentication::parse(&method).ok_or_else(|| {
            PgError::invalid(format!(
                "password_authentication must be \"password\" or \"scram-sha-256\", not {method:?}"
            ))
        })?;
    }
    // Parses the URL now, so a bad one is a 400 at write rather than at first use.
    config.target("new")?;
    config.revision = rand::random();
    Ok(config)
}

pub(crate) async fn delete(
    backend: &Backend,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("connection", name).map_err(PgError::Invalid)?;
    let _guard = backend.config_lock(ctx, name).lock_owned().await;
    ctx.storage.delete(&storage_key(name)).await?;
    backend.forget_pool(ctx, name);
    Ok(Response::no_content())
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("app", "app"));
        assert!(!glob_matches("app", "apps"));
        assert!(glob_matches("app-*", "app-reader"));
        assert!(!glob_matches("app-*", "other"));
        assert!(glob_matches("*-ro", "db-ro"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxc"));
        assert!(!glob_matches("ab*ba", "aba"));
    }
}
