//! `rotate-root/:name`: replace the root password with one only the broker knows.
//!
//! Order matters for crash safety: the new password is stored as `pending_password` first,
//! then the database is changed, then it becomes the password. A crash after the `ALTER ROLE`
//! leaves it pending, and the next pool build tries it when the old one is refused (see
//! `Backend::manager`). The new password is never returned.

use lessor_sdk::{EngineContext, Request, Response};

use crate::Backend;
use crate::config;
use crate::error::PgError;
use crate::fields::check_name;
use crate::password;

pub(crate) async fn rotate_root(
    backend: &Backend,
    ctx: &EngineContext,
    request: &Request,
) -> Result<Response, PgError> {
    let name = request.params.get("name");
    check_name("connection", name).map_err(PgError::Invalid)?;
    let _guard = backend.config_lock(ctx, name).lock_owned().await;
    let mut db = config::load(ctx, name).await?.ok_or(PgError::NotFound)?;
    if db.username.is_empty() {
        return Err(PgError::invalid(
            "unable to rotate root credentials: no username in the configuration",
        ));
    }
    if db.target(name)?.literal_password {
        return Err(PgError::invalid(
            "unable to rotate root credentials: connection_url contains a password; use \
             {{password}} and the password field",
        ));
    }
    // Connect (and settle any earlier pending password) before choosing a new one.
    let manager = backend.manager(ctx, name, &db).await?;
    let refreshed = config::load(ctx, name).await?.ok_or(PgError::NotFound)?;
    db = refreshed;

    let new_password = password::generate();
    let statement_value = db
        .password_authentication
        .statement_value(&new_password)
        .map_err(PgError::Internal)?;
    db.pending_password = Some(new_password.clone());
    config::save(ctx, name, &db).await?;

    manager
        .rotate_root(&db.username, &db.root_rotation_statements, &statement_value)
        .await?;

    db.password = new_password;
    db.pending_password = None;
    db.revision = rand::random();
    config::save(ctx, name, &db).await?;
    backend.forget_pool(ctx, name);
    tracing::info!(config = name, "rotated the root password");
    Ok(Response::no_content())
}
