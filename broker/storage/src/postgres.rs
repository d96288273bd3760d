//! The PostgreSQL backend: the shared store that lets several brokers run active/standby. One
//! table, keyed by `text COLLATE "C"` so that B-tree range scans are bytewise. The lease index in
//! the same database is in [`leases`].

mod leases;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

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
}

impl PostgresBackend {
    /// Connects a pool of at most `max_connections` to `connection_url` and brings the schema
    /// up to date. Safe to call from several brokers at once: sqlx serialises migrations on
    /// PostgreSQL with an advisory lock.
    pub async fn connect(connection_url: &str, max_connections: u32) -> Result<Self, StorageError> {
        if max_connections == 0 {
            return Err(StorageError::InvalidConfig(
                "PostgreSQL storage needs at least one connection".to_owned(),
            ));
        }
        // The URL may hold a password, so it is never echoed in errors or logs.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(connection_url)
            .await
            .map_err(StorageError::database("connect to PostgreSQL"))?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!(max_connections, "PostgreSQL storage connected");
        Ok(Self { pool })
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
        sqlx::query(UPSERT)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(StorageError::database("write a key"))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        sqlx::query(DELETE)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StorageError::database("delete a key"))?;
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
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StorageError::database("begin a batch"))?;
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
        let done = query
            .execute(&self.pool)
            .await
            .map_err(StorageError::database("delete a prefix"))?;
        Ok(done.rows_affected())
    }
}
