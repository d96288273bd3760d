//! Every effect on a target database, behind [`RoleManager`]: create a user, extend its
//! expiry, drop it, change the root password. All SQL of the engine lives in this file;
//! statements are rendered by `statements` so every value is quoted for its context.
//!
//! Concurrency: PostgreSQL fails concurrent `GRANT`s on one object with `XX000 tuple
//! concurrently updated`, and catalog updates can also deadlock or fail serialization. Such
//! transactions are retried whole, with jittered exponential backoff. Issuing for one role is
//! additionally bounded to a few creations at a time (`Backend::issue_lock`), which
//! keeps retries rare; the retry covers GRANTs shared across roles and concurrent revocations.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::password::Secret;
use crate::pool::{Pool, error_text, scrub};
use crate::statements::{self, StatementError, Values};

/// Attempts for a transaction that lost a race on the catalog.
const MAX_ATTEMPTS: u32 = 10;
/// How long revocation waits for terminated sessions to disappear.
const SESSION_EXIT_WAIT: Duration = Duration::from_secs(5);

const DEFAULT_RENEW: &str = "ALTER ROLE {{name}} VALID UNTIL {{expiration}}";
const DEFAULT_ROOT_ROTATION: &str = "ALTER ROLE {{username}} WITH PASSWORD {{password}}";
const COMMENT: &str = "COMMENT ON ROLE {{name}} IS {{comment}}";
/// Runs as one implicit transaction, so the `NOLOGIN` is committed by the time the caller
/// sees the count of sessions it terminated. Only sessions the root may signal are touched:
/// a `CREATEROLE` root on PostgreSQL < 16 is not a member of the roles it created, and
/// `pg_terminate_backend` would fail the whole revocation instead of skipping them.
const DISABLE_AND_TERMINATE: &str = "ALTER ROLE {{name}} NOLOGIN; \
     SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity \
     WHERE usename = '{{name}}' AND pid <> pg_catalog.pg_backend_pid() \
     AND (pg_catalog.pg_has_role(usesysid, 'MEMBER') \
          OR pg_catalog.pg_has_role('pg_signal_backend', 'MEMBER'))";
/// Ownership goes to the broker's own user; privileges held by the role go with DROP OWNED.
/// The first statement ends a session that logged in between the terminate and the
/// `NOLOGIN` commit of [`DISABLE_AND_TERMINATE`]; none can log in after it.
const DEFAULT_REVOCATION: &str = "SELECT pg_catalog.pg_terminate_backend(pid) \
     FROM pg_catalog.pg_stat_activity \
     WHERE usename = '{{name}}' AND pid <> pg_catalog.pg_backend_pid() \
     AND (pg_catalog.pg_has_role(usesysid, 'MEMBER') \
          OR pg_catalog.pg_has_role('pg_signal_backend', 'MEMBER')); \
     REASSIGN OWNED BY {{name}} TO CURRENT_USER; \
     DROP OWNED BY {{name}}; DROP ROLE IF EXISTS {{name}}";

/// A user to create.
#[derive(Debug)]
pub(crate) struct NewUser<'a> {
    pub username: &'a str,
    /// What `{{password}}` becomes: the plaintext or a SCRAM verifier.
    pub password: &'a Secret,
    /// `{{expiration}}`, already formatted.
    pub expiration: &'a str,
    pub statements: &'a [String],
    /// Written with `COMMENT ON ROLE` so orphans can be traced to their lease.
    pub comment: &'a str,
}

/// Why a database operation failed. Messages name the target, never a password.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    /// A statement template cannot be rendered (a client mistake).
    #[error("{0}")]
    Statement(#[from] StatementError),
    /// The database refused or could not be reached.
    #[error("{0}")]
    Upstream(String),
}

/// The narrow contract between the engine and a target database.
#[async_trait]
pub(crate) trait RoleManager: Send + Sync {
    /// Opens a fresh connection with the root credentials and runs a trivial query.
    async fn verify(&self) -> Result<(), TargetError>;
    /// Runs the creation statements and the lease comment in one transaction.
    async fn create(&self, user: NewUser<'_>) -> Result<(), TargetError>;
    /// Moves the user's expiry (`statements` empty: `VALID UNTIL`).
    async fn renew(
        &self,
        username: &str,
        statements: &[String],
        expiration: &str,
    ) -> Result<(), TargetError>;
    /// Removes the user. A user that does not exist is already dropped: success.
    async fn drop_user(&self, username: &str, statements: &[String]) -> Result<(), TargetError>;
    /// Sets the root user's password (`password` is what `{{password}}` becomes).
    async fn rotate_root(
        &self,
        username: &str,
        statements: &[String],
        password: &Secret,
    ) -> Result<(), TargetError>;
}

/// [`RoleManager`] over a pool of root connections.
#[derive(Debug)]
pub(crate) struct PgRoleManager {
    pool: Arc<Pool>,
}

impl PgRoleManager {
    pub(crate) fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }

    async fn client(&self) -> Result<crate::pool::PooledClient, TargetError> {
        self.pool
            .get()
            .await
            .map_err(|error| TargetError::Upstream(error.0))
    }

    fn upstream(
        &self,
        doing: &str,
        error: &tokio_postgres::Error,
        extra: &[&Secret],
    ) -> TargetError {
        let secrets: Vec<Secret> = extra.iter().map(|s| (*s).clone()).collect();
        let message = scrub(&self.pool.scrub(&error_text(error)), &secrets);
        TargetError::Upstream(format!("{doing} on {}: {message}", self.pool.label()))
    }

    /// Runs `statements` in one transaction, retrying the whole transaction when it lost a
    /// race on the catalog.
    ///
    /// The transaction travels as one simple-protocol message (`BEGIN; …; COMMIT`): one round
    /// trip instead of one per statement, which matters because the target's CPU, not the
    /// network, is what limits issuance. A failure leaves the session inside an aborted
    /// block, so it is rolled back before the connection is reused.
    async fn transaction(
        &self,
        client: &mut Client,
        statements: &[String],
    ) -> Result<(), tokio_postgres::Error> {
        let batch = transaction_batch(statements);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = client.batch_execute(&batch).await;
            if result.is_err() && !client.is_closed() {
                // Harmless when no block is open (PostgreSQL only warns).
                let _ = client.batch_execute("ROLLBACK").await;
            }
            match result {
                Err(error) if attempt < MAX_ATTEMPTS && is_transient(&error) => {
                    tracing::debug!(attempt, "retrying a transaction that lost a catalog race");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }
}

/// `statements` wrapped in `BEGIN`/`COMMIT` as one simple-query string. Each statement is
/// already complete and rendered; the separator starts on a fresh line so a statement that
/// ends in a `--` comment cannot swallow it.
fn transaction_batch(statements: &[String]) -> String {
    let mut batch = String::from("BEGIN");
    for statement in statements {
        batch.push_str("\n;\n");
        batch.push_str(statement);
    }
    batch.push_str("\n;\nCOMMIT");
    batch
}

#[async_trait]
impl RoleManager for PgRoleManager {
    async fn verify(&self) -> Result<(), TargetError> {
        let client = self
            .pool
            .connect()
            .await
            .map_err(|error| TargetError::Upstream(error.0))?;
        client
            .batch_execute("SELECT 1")
            .await
            .map_err(|error| self.upstream("verifying the connection", &error, &[]))
    }

    async fn create(&self, user: NewUser<'_>) -> Result<(), TargetError> {
        let values = [
            ("name", user.username),
            ("username", user.username),
            ("password", user.password.expose()),
            ("expiration", user.expiration),
            ("comment", user.comment),
        ];
        let values = Values::new(&values);
        let mut statements = statements::render_all(user.statements, values)?;
        // Tag the role with its lease so orphans can be traced, when the statements create a
        // role of that name. Statements that never name it (Vault accepts `SELECT 1`) have no
        // role to tag, and a COMMENT would fail the whole transaction.
        let names_user = user
            .statements
            .iter()
            .any(|statement| statement.contains("{{name}}") || statement.contains("{{username}}"));
        if names_user {
            statements.extend(statements::render(COMMENT, values)?);
        }
        let mut pooled = self.client().await?;
        let client = pooled
            .client()
            .map_err(|error| TargetError::Upstream(error.0))?;
        self.transaction(client, &statements)
            .await
            .map_err(|error| {
                self.upstream(
                    &format!("creating user {:?}", user.username),
                    &error,
                    &[user.password],
                )
            })
    }

    async fn renew(
        &self,
        username: &str,
        statements: &[String],
        expiration: &str,
    ) -> Result<(), TargetError> {
        let values = [
            ("name", username),
            ("username", username),
            ("expiration", expiration),
        ];
        let rendered = if statements.is_empty() {
            statements::render(DEFAULT_RENEW, Values::new(&values))?
        } else {
            statements::render_all(statements, Values::new(&values))?
        };
        let mut pooled = self.client().await?;
        let client = pooled
            .client()
            .map_err(|error| TargetError::Upstream(error.0))?;
        self.transaction(client, &rendered)
            .await
            .map_err(|error| self.upstream(&format!("renewing user {username:?}"), &error, &[]))
    }

    async fn drop_user(&self, username: &str, statements: &[String]) -> Result<(), TargetError> {
        let values = [("name", username), ("username", username)];
        let values = Values::new(&values);
        let custom = statements::render_all(statements, values)?;
        let mut pooled = self.client().await?;
        let client = pooled
            .client()
            .map_err(|error| TargetError::Upstream(error.0))?;
        let doing = format!("dropping user {username:?}");
        if !custom.is_empty() {
            let Err(error) = self.transaction(client, &custom).await else {
                return Ok(());
            };
            // Custom statements may not cope with a missing role, and a role that is gone is
            // revoked: a failure is success when the role no longer exists. Asked only after
            // a failure, so a revocation costs the target one round trip.
            let exists = client
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                    &[&username],
                )
                .await
                .map_err(|check| self.upstream(&doing, &check, &[]))?
                .is_some();
            return if exists {
                Err(self.upstream(&doing, &error, &[]))
            } else {
                tracing::debug!(
                    username,
                    "custom revocation failed on a role that is already gone"
                );
                Ok(())
            };
        }
        // One round trip: stop new logins (committed before anything else happens) and end
        // the user's sessions. A role that does not exist fails the ALTER: already revoked.
        let terminated = match disable_and_terminate(client, values).await {
            Err(DisableError::Database(error))
                if error.code() == Some(&SqlState::UNDEFINED_OBJECT) =>
            {
                return Ok(());
            }
            Err(DisableError::Statement(error)) => return Err(TargetError::Statement(error)),
            Err(DisableError::Database(error)) => return Err(self.upstream(&doing, &error, &[])),
            Ok(terminated) => terminated,
        };
        if terminated > 0 {
            wait_for_sessions(client, username)
                .await
                .map_err(|error| self.upstream(&doing, &error, &[]))?;
        }
        let revocation = statements::render(DEFAULT_REVOCATION, values)?;
        match self.transaction(client, &revocation).await {
            // Dropped concurrently by someone else: the goal is reached.
            Err(error) if error.code() == Some(&SqlState::UNDEFINED_OBJECT) => Ok(()),
            // A root that is not a superuser cannot REASSIGN OWNED before PostgreSQL 16.
            Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                revoke_privileges_and_drop(client, username)
                    .await
                    .map_err(|error| match error {
                        FallbackError::Statement(error) => TargetError::Statement(error),
                        FallbackError::Database(error) => self.upstream(&doing, &error, &[]),
                    })
            }
            result => result.map_err(|error| self.upstream(&doing, &error, &[])),
        }
    }

    async fn rotate_root(
        &self,
        username: &str,
        statements: &[String],
        password: &Secret,
    ) -> Result<(), TargetError> {
        let values = [
            ("name", username),
            ("username", username),
            ("password", password.expose()),
        ];
        let rendered = if statements.is_empty() {
            statements::render(DEFAULT_ROOT_ROTATION, Values::new(&values))?
        } else {
            statements::render_all(statements, Values::new(&values))?
        };
        let mut pooled = self.client().await?;
        let client = pooled
            .client()
            .map_err(|error| TargetError::Upstream(error.0))?;
        self.transaction(client, &rendered)
            .await
            .map_err(|error| self.upstream("rotating the root password", &error, &[password]))
    }
}

enum FallbackError {
    Statement(StatementError),
    Database(tokio_postgres::Error),
}

/// Revocation for roots that may not take over the user's objects (Vault's approach):
/// revoke what the user was granted in every schema and on the database, then drop it.
/// Revokes are best effort (some objects may not be the root's to revoke); the final
/// `DROP ROLE` decides success.
async fn revoke_privileges_and_drop(client: &Client, username: &str) -> Result<(), FallbackError> {
    const PER_SCHEMA: &str = "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA {{schema}} FROM {{name}}; \
         REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA {{schema}} FROM {{name}}; \
         REVOKE ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA {{schema}} FROM {{name}}; \
         REVOKE ALL PRIVILEGES ON SCHEMA {{schema}} FROM {{name}}";
    const PER_DATABASE: &str = "REVOKE ALL PRIVILEGES ON DATABASE {{database}} FROM {{name}}";
    const DROP: &str = "DROP ROLE IF EXISTS {{name}}";
    let schemas = client
        .query(
            "SELECT nspname::text FROM pg_catalog.pg_namespace \
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
            &[],
        )
        .await
        .map_err(FallbackError::Database)?;
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(FallbackError::Database)?
        .get(0);
    let mut revokes = Vec::new();
    for row in schemas {
        let schema: String = row.get(0);
        let values = [("schema", schema.as_str()), ("name", username)];
        revokes.extend(
            statements::render(PER_SCHEMA, Values::new(&values))
                .map_err(FallbackError::Statement)?,
        );
    }
    let values = [("database", database.as_str()), ("name", username)];
    revokes.extend(
        statements::render(PER_DATABASE, Values::new(&values)).map_err(FallbackError::Statement)?,
    );
    for revoke in revokes {
        if let Err(error) = client.batch_execute(&revoke).await {
            tracing::debug!(username, %error, "a revoke during revocation failed");
        }
    }
    let values = [("name", username)];
    for statement in
        statements::render(DROP, Values::new(&values)).map_err(FallbackError::Statement)?
    {
        client
            .batch_execute(&statement)
            .await
            .map_err(FallbackError::Database)?;
    }
    Ok(())
}

enum DisableError {
    Statement(StatementError),
    Database(tokio_postgres::Error),
}

/// Disables the user's login and terminates its sessions; how many were terminated.
async fn disable_and_terminate(client: &Client, values: Values<'_>) -> Result<i64, DisableError> {
    let batch = statements::render(DISABLE_AND_TERMINATE, values)
        .map_err(DisableError::Statement)?
        .join("\n;\n");
    let messages = client
        .simple_query(&batch)
        .await
        .map_err(DisableError::Database)?;
    Ok(messages
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .and_then(|count| count.parse().ok())
        .unwrap_or(0))
}

/// Waits (briefly) for terminated sessions of `username` to exit.
async fn wait_for_sessions(client: &Client, username: &str) -> Result<(), tokio_postgres::Error> {
    let deadline = tokio::time::Instant::now() + SESSION_EXIT_WAIT;
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_backend_pid() \
                 AND (pg_catalog.pg_has_role(usesysid, 'MEMBER') \
                      OR pg_catalog.pg_has_role('pg_signal_backend', 'MEMBER'))",
                &[&username],
            )
            .await?;
        let remaining: i64 = row.get(0);
        if remaining == 0 || tokio::time::Instant::now() >= deadline {
            if remaining > 0 {
                tracing::warn!(
                    username,
                    remaining,
                    "sessions still alive after termination"
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Failures that a plain retry of the same transaction can fix.
fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE => true,
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED => true,
        Some(code) if *code == SqlState::INTERNAL_ERROR => error
            .as_db_error()
            .is_some_and(|db| db.message().contains("concurrently")),
        _ => false,
    }
}

fn backoff(attempt: u32) -> Duration {
    let base_ms = 5u64.saturating_mul(1 << attempt.min(7)).min(500);
    let jitter = rand::rng().random_range(0..=base_ms);
    Duration::from_millis(base_ms / 2 + jitter)
}
