//! The PostgreSQL backend: the shared store that lets several brokers run active/standby. One
//! table, keyed by `text COLLATE "C"` so that B-tree range scans are bytewise. The lease index in
//! the same database is in [`leases`]; HA leadership and the epoch that fences writes in [`ha`].
//!
//! Every write goes through [`PostgresBackend::write_one`] or [`PostgresBackend::begin_write`],
//! the one place where an HA backend checks its fence; without HA both are exactly the plain
//! statement or transaction the write would run anyway.

mod ha;
mod leases;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Transaction};

pub use ha::{LeaderInfo, Leadership, NodeInfo};

use crate::keyspace::{self, LIST_BATCH};
use crate::{Backend, Op, StorageError};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

const UPSERT: &str = "INSERT INTO lessor_entries (key, value) VALUES ($1, $2) \
                      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
const DELETE: &str = "DELETE FROM lessor_entries WHERE key = $1";

/// A [`Backend`] and [`LeaseIndex`](crate::LeaseIndex) in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    /// With HA on ([`connect_ha`](Self::connect_ha)): the leadership epoch this node holds, 0
    /// when it does not lead, shared with its [`Leadership`]. `None`: no fencing at all.
    fence: Option<Arc<AtomicI64>>,
}

impl PostgresBackend {
    /// Connects a pool of at most `max_connections` to `connection_url` and brings the schema
    /// up to date. Safe to call from several brokers at once: sqlx serialises migrations on
    /// PostgreSQL with an advisory lock.
    pub async fn connect(connection_url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let options = parse_url(connection_url)?;
        Self::open(options, max_connections, None).await
    }

    async fn open(
        options: PgConnectOptions,
        max_connections: u32,
        fence: Option<Arc<AtomicI64>>,
    ) -> Result<Self, StorageError> {
        if max_connections == 0 {
            return Err(StorageError::InvalidConfig(
                "PostgreSQL storage needs at least one connection".to_owned(),
            ));
        }
        // The URL may hold a password, so it is never echoed in errors or logs.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .map_err(StorageError::database("connect to PostgreSQL"))?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!(
            max_connections,
            ha = fence.is_some(),
            "PostgreSQL storage connected"
        );
        Ok(Self { pool, fence })
    }

    /// Opens the transaction a write runs in. With HA on, the fence is checked first and holds
    /// until the transaction ends (see [`ha::begin_fenced`]); without HA this is a plain
    /// `BEGIN`, as it always was.
    async fn begin_write(
        &self,
        operation: &'static str,
    ) -> Result<Transaction<'static, Postgres>, StorageError> {
        match &self.fence {
            Some(fence) => ha::begin_fenced(&self.pool, fence, operation).await,
            None => self
                .pool
                .begin()
                .await
                .map_err(StorageError::database(operation)),
        }
    }

    /// Runs one write statement; returns the rows it affected. Without HA it runs straight on
    /// the pool (no transaction: the non-HA path costs what it always did); with HA it runs in a
    /// fenced transaction from [`begin_write`](Self::begin_write).
    async fn write_one(
        &self,
        query: Query<'_, Postgres, PgArguments>,
        operation: &'static str,
    ) -> Result<u64, StorageError> {
        if self.fence.is_none() {
            let done = query
                .execute(&self.pool)
                .await
                .map_err(StorageError::database(operation))?;
            return Ok(done.rows_affected());
        }
        let mut tx = self.begin_write(operation).await?;
        let done = query
            .execute(&mut *tx)
            .await
            .map_err(StorageError::database(operation))?;
        tx.commit()
            .await
            .map_err(StorageError::database(operation))?;
        Ok(done.rows_affected())
    }

    /// Closes every connection, waiting for in-flight queries. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn range_keys(
        &self,
        lower: String,
        upper: Option<String>,
    ) -> Result<Vec<String>, StorageError> {
        let limit = i64::try_from(LIST_BATCH).unwrap_or(i64::MAX);
        let query = match upper {
            Some(upper) => sqlx::query_scalar(
                "SELECT key FROM lessor_entries WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
            )
            .bind(lower)
            .bind(upper)
            .bind(limit),
            None => sqlx::query_scalar(
                "SELECT key FROM lessor_entries WHERE key >= $1 ORDER BY key LIMIT $2",
            )
            .bind(lower)
            .bind(limit),
        };
        query
            .fetch_all(&self.pool)
            .await
            .map_err(StorageError::database("list keys"))
    }
}

/// The URL as connection options. The URL may hold a password, so neither it nor the parser's
/// message (which can quote it) reaches the error.
fn parse_url(connection_url: &str) -> Result<PgConnectOptions, StorageError> {
    connection_url.parse().map_err(|_| {
        StorageError::InvalidConfig("PostgreSQL connection URL cannot be parsed".to_owned())
    })
}

async fn write_op(tx: &mut Transaction<'_, Postgres>, op: &Op) -> Result<(), sqlx::Error> {
    let query = match op {
        Op::Put { key, value } => sqlx::query(UPSERT)
            .bind(key.as_str())
            .bind(value.as_slice()),
        Op::Delete { key } => sqlx::query(DELETE).bind(key.as_str()),
    };
    query.execute(&mut **tx).await.map(drop)
}

#[async_trait::async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        keyspace::validate_key(key)?;
        sqlx::query_scalar("SELECT value FROM lessor_entries WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StorageError::database("read a key"))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        let query = sqlx::query(UPSERT).bind(key).bind(value);
        self.write_one(query, "write a key").await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        let query = sqlx::query(DELETE).bind(key);
        self.write_one(query, "delete a key").await?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let upper = keyspace::upper_bound(prefix);
        keyspace::list_children(prefix, LIST_BATCH, |lower| {
            self.range_keys(lower, upper.clone())
        })
        .await
    }

    async fn apply(&self, ops: &[Op]) -> Result<(), StorageError> {
        keyspace::validate_ops(ops)?;
        let mut tx = self.begin_write("begin a batch").await?;
        for op in ops {
            write_op(&mut tx, op)
                .await
                .map_err(StorageError::database("write a batch"))?;
        }
        // Dropping `tx` on an early return rolls the batch back.
        tx.commit()
            .await
            .map_err(StorageError::database("commit a batch"))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        keyspace::validate_delete_prefix(prefix)?;
        let query = match keyspace::upper_bound(prefix) {
            Some(upper) => sqlx::query("DELETE FROM lessor_entries WHERE key >= $1 AND key < $2")
                .bind(prefix)
                .bind(upper),
            None => sqlx::query("DELETE FROM lessor_entries WHERE key >= $1").bind(prefix),
        };
        self.write_one(query, "delete a prefix").await
    }
}
