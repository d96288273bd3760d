//! The lease index in SQLite: the `lessor_leases` table of `migrations/sqlite/0002_leases.sql`.
//! Writes go through the single writer connection like every other write; reads use the
//! reader pool. Each query is shaped to run off one index (see the migration), which the tests
//! below confirm with `EXPLAIN QUERY PLAN`.

use super::SqliteBackend;
use crate::StorageError;
use crate::keyspace::{self, LIST_BATCH};
use crate::lease::{self, LeaseColumns, LeaseIndex, LeaseRow, LeaseState};

/// Must stay `upsert_many_sql(1)` with numbered parameters (a unit test checks).
const UPSERT: &str = "INSERT INTO lessor_leases (id, due_at, state, owner, value) \
                      VALUES (?1, ?2, ?3, ?4, ?5) \
                      ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, \
                      state = excluded.state, owner = excluded.owner, value = excluded.value";
/// The `ON CONFLICT` clause shared by single and multi-row upserts.
const ON_CONFLICT: &str = " ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, \
                           state = excluded.state, owner = excluded.owner, value = excluded.value";
/// Rows per multi-row upsert in a batch: 5 parameters each stays far below SQLite's limit of
/// 32766 bound parameters, and one statement per 500 rows instead of one per row is what makes
/// bulk writes fast (each statement is a round trip to sqlx's SQLite worker thread).
const UPSERT_CHUNK: usize = 500;
const GET: &str = "SELECT id, due_at, state, owner, value FROM lessor_leases WHERE id = ?1";
const DELETE: &str = "DELETE FROM lessor_leases WHERE id = ?1";
const DUE_BEFORE: &str = "SELECT id, due_at, state, owner, value FROM lessor_leases \
                          WHERE due_at < ?1 ORDER BY due_at, id LIMIT ?2";
const IDS_IN_RANGE: &str =
    "SELECT id FROM lessor_leases WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3";
const IDS_FROM: &str = "SELECT id FROM lessor_leases WHERE id >= ?1 ORDER BY id LIMIT ?2";
const BY_OWNER: &str = "SELECT id FROM lessor_leases WHERE owner = ?1 ORDER BY id";
/// Ids are never empty, so `id > ''` starts at the first one.
const IN_STATE: &str =
    "SELECT id FROM lessor_leases WHERE state = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
const COUNT_IN_RANGE: &str = "SELECT count(*) FROM lessor_leases WHERE id >= ?1 AND id < ?2";
const COUNT_FROM: &str = "SELECT count(*) FROM lessor_leases WHERE id >= ?1";
const COUNT_STATE_IN_RANGE: &str =
    "SELECT count(*) FROM lessor_leases WHERE state = ?3 AND id >= ?1 AND id < ?2";
const COUNT_STATE_FROM: &str = "SELECT count(*) FROM lessor_leases WHERE state = ?2 AND id >= ?1";
const STATE_COUNTS: &str = "SELECT state, count(*) FROM lessor_leases GROUP BY state";

impl SqliteBackend {
    /// Ids in `[lower, upper)`, in order, at most `limit`.
    async fn lease_ids_in(
        &self,
        lower: String,
        upper: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let limit = lease::sql_limit(limit);
        let query = match upper {
            Some(upper) => sqlx::query_scalar(IDS_IN_RANGE)
                .bind(lower)
                .bind(upper)
                .bind(limit),
            None => sqlx::query_scalar(IDS_FROM).bind(lower).bind(limit),
        };
        query
            .fetch_all(&self.readers)
            .await
            .map_err(StorageError::database("list lease ids"))
    }
}

/// `INSERT … VALUES (?, ?, ?, ?, ?), … ON CONFLICT …` for `rows` rows. Built only from
/// constant fragments; the values are bound.
fn upsert_many_sql(rows: usize) -> String {
    let mut sql =
        String::from("INSERT INTO lessor_leases (id, due_at, state, owner, value) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?)");
    }
    sql.push_str(ON_CONFLICT);
    sql
}

#[async_trait::async_trait]
impl LeaseIndex for SqliteBackend {
    async fn put_lease(&self, row: &LeaseRow) -> Result<(), StorageError> {
        lease::validate_row(row)?;
        sqlx::query(UPSERT)
            .bind(row.id.as_str())
            .bind(row.due_at)
            .bind(row.state.code())
            .bind(row.owner.as_deref())
            .bind(row.value.as_slice())
            .execute(&self.writer)
            .await
            .map_err(StorageError::database("write a lease"))?;
        Ok(())
    }

    async fn put_leases(&self, rows: &[LeaseRow]) -> Result<(), StorageError> {
        let rows = lease::last_writes(rows)?;
        // One transaction: one commit (one fsync) for the batch, and all or nothing.
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StorageError::database("begin a lease batch"))?;
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let sql = upsert_many_sql(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                query = query
                    .bind(row.id.as_str())
                    .bind(row.due_at)
                    .bind(row.state.code())
                    .bind(row.owner.as_deref())
                    .bind(row.value.as_slice());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StorageError::database("write a lease batch"))?;
        }
        // Dropping `tx` on an early return rolls the batch back.
        tx.commit()
            .await
            .map_err(StorageError::database("commit a lease batch"))
    }

    async fn get_lease(&self, id: &str) -> Result<Option<LeaseRow>, StorageError> {
        keyspace::validate_key(id)?;
        let columns: Option<LeaseColumns> = sqlx::query_as(GET)
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(StorageError::database("read a lease"))?;
        columns.map(LeaseRow::try_from).transpose()
    }

    async fn delete_lease(&self, id: &str) -> Result<bool, StorageError> {
        keyspace::validate_key(id)?;
        let done = sqlx::query(DELETE)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(StorageError::database("delete a lease"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn leases_due_before(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRow>, StorageError> {
        let columns: Vec<LeaseColumns> = sqlx::query_as(DUE_BEFORE)
            .bind(before)
            .bind(lease::sql_limit(limit))
            .fetch_all(&self.readers)
            .await
            .map_err(StorageError::database("read due leases"))?;
        lease::rows_from_columns(columns)
    }

    async fn lease_ids_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let (lower, upper) = lease::page_bounds(prefix, after)?;
        self.lease_ids_in(lower, upper, limit).await
    }

    async fn list_leases(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let upper = keyspace::upper_bound(prefix);
        keyspace::list_children(prefix, LIST_BATCH, |lower| {
            self.lease_ids_in(lower, upper.clone(), LIST_BATCH)
        })
        .await
    }

    async fn lease_ids_by_owner(&self, owner: &str) -> Result<Vec<String>, StorageError> {
        lease::validate_owner(owner)?;
        sqlx::query_scalar(BY_OWNER)
            .bind(owner)
            .fetch_all(&self.readers)
            .await
            .map_err(StorageError::database("read a token's leases"))
    }

    async fn lease_ids_in_state(
        &self,
        state: LeaseState,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        sqlx::query_scalar(IN_STATE)
            .bind(state.code())
            .bind(after.unwrap_or_default())
            .bind(lease::sql_limit(limit))
            .fetch_all(&self.readers)
            .await
            .map_err(StorageError::database("list leases by state"))
    }

    async fn count_leases(
        &self,
        prefix: &str,
        state: Option<LeaseState>,
    ) -> Result<u64, StorageError> {
        keyspace::validate_list_prefix(prefix)?;
        let upper = keyspace::upper_bound(prefix);
        let query = match (upper, state) {
            (Some(upper), None) => sqlx::query_scalar(COUNT_IN_RANGE).bind(prefix).bind(upper),
            (None, None) => sqlx::query_scalar(COUNT_FROM).bind(prefix),
            (Some(upper), Some(state)) => sqlx::query_scalar(COUNT_STATE_IN_RANGE)
                .bind(prefix)
                .bind(upper)
                .bind(state.code()),
            (None, Some(state)) => sqlx::query_scalar(COUNT_STATE_FROM)
                .bind(prefix)
                .bind(state.code()),
        };
        let total: i64 = query
            .fetch_one(&self.readers)
            .await
            .map_err(StorageError::database("count leases"))?;
        Ok(lease::sql_count(total))
    }

    async fn lease_state_counts(&self) -> Result<(u64, u64, u64), StorageError> {
        let groups: Vec<(i16, i64)> = sqlx::query_as(STATE_COUNTS)
            .fetch_all(&self.readers)
            .await
            .map_err(StorageError::database("count leases by state"))?;
        lease::state_counts(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detail column of `EXPLAIN QUERY PLAN` for `sql`, its placeholders replaced by
    /// literals (`?N` → `literals[N - 1]`).
    async fn plan(backend: &SqliteBackend, sql: &str, literals: &[&str]) -> String {
        let mut explain = format!("EXPLAIN QUERY PLAN {sql}");
        for (i, literal) in literals.iter().enumerate() {
            explain = explain.replace(&format!("?{}", i + 1), literal);
        }
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
            .fetch_all(&backend.readers)
            .await
            .unwrap();
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn single_and_batch_upserts_agree() {
        let numbered = ["?1", "?2", "?3", "?4", "?5"]
            .iter()
            .fold(UPSERT.to_owned(), |sql, n| sql.replacen(n, "?", 1));
        assert_eq!(numbered, upsert_many_sql(1));
        assert_eq!(upsert_many_sql(3).matches('?').count(), 15);
    }

    #[tokio::test]
    async fn queries_run_off_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(&dir.path().join("lessor.db"))
            .await
            .unwrap();

        let due = plan(&backend, DUE_BEFORE, &["1000", "100"]).await;
        assert!(due.contains("USING INDEX lessor_leases_due"), "{due}");
        assert!(!due.contains("TEMP B-TREE"), "due query sorts: {due}");

        let owner = plan(&backend, BY_OWNER, &["'h'"]).await;
        assert!(owner.contains("INDEX lessor_leases_owner"), "{owner}");
        assert!(!owner.contains("TEMP B-TREE"), "owner query sorts: {owner}");

        let counted = plan(&backend, COUNT_STATE_IN_RANGE, &["'a/'", "'a0'", "2"]).await;
        assert!(
            counted.contains("COVERING INDEX lessor_leases_state"),
            "{counted}"
        );

        let paged = plan(&backend, IDS_IN_RANGE, &["'a/'", "'a0'", "10"]).await;
        assert!(
            paged.contains("COVERING INDEX sqlite_autoindex_lessor_leases"),
            "{paged}"
        );
        assert!(!paged.contains("TEMP B-TREE"), "{paged}");
        backend.close().await;
    }
}
