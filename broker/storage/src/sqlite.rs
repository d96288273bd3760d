//! The SQLite backend, Lessor's embedded default: one file, WAL journal, and a single writer
//! connection beside a small pool of readers. The lease index on the same file is in [`leases`].

mod leases;

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::keyspace::{self, LIST_BATCH};
use crate::{Backend, Op, StorageError};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a connection waits for another process's lock before failing. Within one broker
/// writes never contend (one writer connection); this only matters if something else, such as
/// an operator's `sqlite3` shell, holds the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const UPSERT: &str = "INSERT INTO lessor_entries (key, value) VALUES (?1, ?2) \
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM lessor_entries WHERE key = ?1";

/// Reader connections. WAL lets them read while the writer commits.
const READERS: u32 = 4;

/// A [`Backend`] and [`LeaseIndex`](crate::LeaseIndex) in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    /// Exactly one connection: SQLite admits one writer at a time anyway, and queueing in the
    /// pool is cheaper and fairer than connections spinning on SQLITE_BUSY.
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to
    /// date. The parent directory must exist.
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                return Err(StorageError::InvalidConfig(format!(
                    "directory {} for the SQLite storage file does not exist",
                    dir.display()
                )));
            }
            _ => {}
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on power loss or
            // an OS crash. Lessor persists a lease intent *before* creating the credential it
            // tracks (invariant 3); losing that commit after the role exists would orphan it.
            // The extra fsync per commit is the price of that guarantee.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(StorageError::database("open the SQLite file"))?;
        MIGRATOR.run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(StorageError::database("open SQLite readers"))?;
        tracing::debug!(path = %path.display(), "SQLite storage opened");
        Ok(Self { writer, readers })
    }

    /// Closes every connection, waiting for in-flight queries; SQLite checkpoints the WAL when
    /// the last connection closes. Later calls fail.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    async fn range_keys(
        &self,
        lower: String,
        upper: Option<String>,
    ) -> Result<Vec<String>, StorageError> {
        let limit = i64::try_from(LIST_BATCH).unwrap_or(i64::MAX);
        let query = match upper {
            Some(upper) => sqlx::query_scalar(
                "SELECT key FROM lessor_entries WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
            )
            .bind(lower)
            .bind(upper)
            .bind(limit),
            None => sqlx::query_scalar(
                "SELECT key FROM lessor_entries WHERE key >= ?1 ORDER BY key LIMIT ?2",
            )
            .bind(lower)
            .bind(limit),
        };
        query
            .fetch_all(&self.readers)
            .await
            .map_err(StorageError::database("list keys"))
    }
}

async fn write_op(tx: &mut Transaction<'_, Sqlite>, op: &Op) -> Result<(), sqlx::Error> {
    let query = match op {
        Op::Put { key, value } => sqlx::query(UPSERT)
            .bind(key.as_str())
            .bind(value.as_slice()),
        Op::Delete { key } => sqlx::query(DELETE).bind(key.as_str()),
    };
    query.execute(&mut **tx).await.map(drop)
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        keyspace::validate_key(key)?;
        sqlx::query_scalar("SELECT value FROM lessor_entries WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.readers)
            .await
            .map_err(StorageError::database("read a key"))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        sqlx::query(UPSERT)
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(StorageError::database("write a key"))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        keyspace::validate_key(key)?;
        sqlx::query(DELETE)
            .bind(key)
            .execute(&self.writer)
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
            .writer
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
            Some(upper) => sqlx::query("DELETE FROM lessor_entries WHERE key >= ?1 AND key < ?2")
                .bind(prefix)
                .bind(upper),
            None => sqlx::query("DELETE FROM lessor_entries WHERE key >= ?1").bind(prefix),
        };
        let done = query
            .execute(&self.writer)
            .await
            .map_err(StorageError::database("delete a prefix"))?;
        Ok(done.rows_affected())
    }
}
