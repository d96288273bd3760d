//! The lease index in PostgreSQL: the `lessor_leases` table of
//! `migrations/postgres/0002_leases.sql`. Each query is shaped to run off one index (see the
//! migration), which the tests below confirm with `EXPLAIN`, for both the custom and the generic
//! plan a prepared statement may end up with. Writes go through the backend's fenced write
//! helpers, so with HA on a node that does not lead cannot touch the index.

use super::PostgresBackend;
use crate::StorageError;
use crate::keyspace::{self, LIST_BATCH};
use crate::lease::{self, LeaseColumns, LeaseIndex, LeaseRow, LeaseState};

const UPSERT: &str = "INSERT INTO lessor_leases (id, due_at, state, owner, value) \
                      VALUES ($1, $2, $3, $4, $5) \
                      ON CONFLICT (id) DO UPDATE SET due_at = EXCLUDED.due_at, \
                      state = EXCLUDED.state, owner = EXCLUDED.owner, value = EXCLUDED.value";
/// A whole chunk of a batch in one statement: one round trip instead of one per row.
const UPSERT_MANY: &str = "INSERT INTO lessor_leases (id, due_at, state, owner, value) \
                           SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int2[], \
                           $4::text[], $5::bytea[]) \
                           ON CONFLICT (id) DO UPDATE SET due_at = EXCLUDED.due_at, \
                           state = EXCLUDED.state, owner = EXCLUDED.owner, value = EXCLUDED.value";
const GET: &str = "SELECT id, due_at, state, owner, value FROM lessor_leases WHERE id = $1";
const DELETE: &str = "DELETE FROM lessor_leases WHERE id = $1";
const DUE_BEFORE: &str = "SELECT id, due_at, state, owner, value FROM lessor_leases \
                          WHERE due_at < $1 ORDER BY due_at, id LIMIT $2";
const IDS_IN_RANGE: &str =
    "SELECT id FROM lessor_leases WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3";
const IDS_FROM: &str = "SELECT id FROM lessor_leases WHERE id >= $1 ORDER BY id LIMIT $2";
const BY_OWNER: &str = "SELECT id FROM lessor_leases WHERE owner = $1 ORDER BY id";
/// Ids are never empty, so `id > ''` starts at the first one.
const IN_STATE: &str =
    "SELECT id FROM lessor_leases WHERE state = $1 AND id > $2 ORDER BY id LIMIT $3";
const COUNT_IN_RANGE: &str = "SELECT count(*) FROM lessor_leases WHERE id >= $1 AND id < $2";
const COUNT_FROM: &str = "SELECT count(*) FROM lessor_leases WHERE id >= $1";
const COUNT_STATE_IN_RANGE: &str =
    "SELECT count(*) FROM lessor_leases WHERE state = $3 AND id >= $1 AND id < $2";
const COUNT_STATE_FROM: &str = "SELECT count(*) FROM lessor_leases WHERE state = $2 AND id >= $1";
const STATE_COUNTS: &str = "SELECT state, count(*) FROM lessor_leases GROUP BY state";

/// Rows per `UPSERT_MANY` statement: bounds the size of one message for 100k-row batches.
const UPSERT_CHUNK: usize = 1000;

impl PostgresBackend {
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
            .fetch_all(&self.pool)
            .await
            .map_err(StorageError::database("list lease ids"))
    }
}

#[async_trait::async_trait]
impl LeaseIndex for PostgresBackend {
    async fn put_lease(&self, row: &LeaseRow) -> Result<(), StorageError> {
        lease::validate_row(row)?;
        let query = sqlx::query(UPSERT)
            .bind(row.id.as_str())
            .bind(row.due_at)
            .bind(row.state.code())
            .bind(row.owner.as_deref())
            .bind(row.value.as_slice());
        self.write_one(query, "write a lease").await?;
        Ok(())
    }

    async fn put_leases(&self, rows: &[LeaseRow]) -> Result<(), StorageError> {
        // Deduplicated: one upsert statement may not touch the same id twice.
        let rows = lease::last_writes(rows)?;
        let mut tx = self.begin_write("begin a lease batch").await?;
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|row| row.id.as_str()).collect();
            let due: Vec<i64> = chunk.iter().map(|row| row.due_at).collect();
            let states: Vec<i16> = chunk.iter().map(|row| row.state.code()).collect();
            let owners: Vec<Option<&str>> = chunk.iter().map(|row| row.owner.as_deref()).collect();
            let values: Vec<&[u8]> = chunk.iter().map(|row| row.value.as_slice()).collect();
            sqlx::query(UPSERT_MANY)
                .bind(ids)
                .bind(due)
                .bind(states)
                .bind(owners)
                .bind(values)
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
            .fetch_optional(&self.pool)
            .await
            .map_err(StorageError::database("read a lease"))?;
        columns.map(LeaseRow::try_from).transpose()
    }

    async fn delete_lease(&self, id: &str) -> Result<bool, StorageError> {
        keyspace::validate_key(id)?;
        let query = sqlx::query(DELETE).bind(id);
        Ok(self.write_one(query, "delete a lease").await? > 0)
    }

    async fn leases_due_before(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRow>, StorageError> {
        let columns: Vec<LeaseColumns> = sqlx::query_as(DUE_BEFORE)
            .bind(before)
            .bind(lease::sql_limit(limit))
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(StorageError::database("count leases"))?;
        Ok(lease::sql_count(total))
    }

    async fn lease_state_counts(&self) -> Result<(u64, u64, u64), StorageError> {
        let groups: Vec<(i16, i64)> = sqlx::query_as(STATE_COUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(StorageError::database("count leases by state"))?;
        lease::state_counts(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lessor_test_support::postgres::TestPostgres;
    use sqlx::Acquire;

    /// `EXPLAIN` of `sql` as a prepared statement run with `arguments`, under `plan_cache_mode`
    /// (`force_custom_plan` or `force_generic_plan`): the two plans a pooled statement can get.
    async fn plan(
        backend: &PostgresBackend,
        sql: &str,
        types: &str,
        arguments: &str,
        mode: &str,
    ) -> String {
        let mut conn = backend.pool.acquire().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        let statements = [
            format!("SET LOCAL plan_cache_mode = {mode}"),
            format!("PREPARE q({types}) AS {sql}"),
        ];
        for statement in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let explain = format!("EXPLAIN EXECUTE q({arguments})");
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        sqlx::raw_sql("DEALLOCATE q")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        lines.join("\n")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_run_off_their_indexes_on_a_realistic_table() {
        let url = TestPostgres::shared()
            .await
            .unwrap()
            .fresh_database()
            .await
            .unwrap();
        let backend = PostgresBackend::connect(&url, 2).await.unwrap();
        // 20k leases over 50 mounts and 500 owners, due across a day, then fresh statistics.
        let rows: Vec<LeaseRow> = (0..20_000_i64)
            .map(|i| LeaseRow {
                id: format!("m{:02}/creds/app/{i:06}", i % 50),
                due_at: 1_700_000_000_000 + (i * 7919) % 86_400_000,
                state: if i % 100 == 0 {
                    LeaseState::Irrevocable
                } else {
                    LeaseState::Active
                },
                owner: (i % 10 != 0).then(|| format!("owner{:03}", i % 500)),
                value: vec![0x5A; 200],
            })
            .collect();
        backend.put_leases(&rows).await.unwrap();
        sqlx::raw_sql("ANALYZE lessor_leases")
            .execute(&backend.pool)
            .await
            .unwrap();

        for mode in ["force_custom_plan", "force_generic_plan"] {
            // The manager's query for the next few minutes of a day-long spread: few rows, so
            // the planner may fetch them through the index and sort them, but never scan.
            let soon = plan(
                &backend,
                DUE_BEFORE,
                "bigint, bigint",
                "1700000300000, 1000",
                mode,
            )
            .await;
            assert!(soon.contains("lessor_leases_due"), "{mode}: {soon}");
            assert!(!soon.contains("Seq Scan"), "{mode}: {soon}");
            // A backlog (everything due, say after an outage): the index order serves the
            // LIMIT directly, with no sort of the whole table.
            let backlog = plan(
                &backend,
                DUE_BEFORE,
                "bigint, bigint",
                "9223372036854775807, 100",
                mode,
            )
            .await;
            assert!(
                backlog.contains("Index Scan using lessor_leases_due"),
                "{mode}: {backlog}"
            );
            assert!(!backlog.contains("Sort"), "{mode}: {backlog}");

            let owner = plan(&backend, BY_OWNER, "text", "'owner007'", mode).await;
            assert!(owner.contains("lessor_leases_owner"), "{mode}: {owner}");
            assert!(!owner.contains("Seq Scan"), "{mode}: {owner}");

            let page = plan(
                &backend,
                IDS_IN_RANGE,
                "text, text, bigint",
                "'m07/', 'm070', 100",
                mode,
            )
            .await;
            assert!(page.contains("lessor_leases_pkey"), "{mode}: {page}");
            assert!(!page.contains("Seq Scan"), "{mode}: {page}");

            let counted = plan(
                &backend,
                COUNT_STATE_IN_RANGE,
                "text, text, smallint",
                "'m07/', 'm070', 2",
                mode,
            )
            .await;
            assert!(counted.contains("lessor_leases_state"), "{mode}: {counted}");

            let pending = plan(
                &backend,
                IN_STATE,
                "smallint, text, bigint",
                "0, '', 1000",
                mode,
            )
            .await;
            assert!(pending.contains("lessor_leases_state"), "{mode}: {pending}");
            assert!(!pending.contains("Seq Scan"), "{mode}: {pending}");
        }

        // And the answers themselves, against a plain computation.
        let mut expected: Vec<&LeaseRow> = rows
            .iter()
            .filter(|row| row.due_at < 1_700_000_300_000)
            .collect();
        expected.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        let due = backend
            .leases_due_before(1_700_000_300_000, 1000)
            .await
            .unwrap();
        assert!(!expected.is_empty());
        assert_eq!(due.iter().collect::<Vec<_>>(), expected);
        let owned = rows
            .iter()
            .filter(|row| row.owner.as_deref() == Some("owner007"))
            .count();
        assert_eq!(
            backend.lease_ids_by_owner("owner007").await.unwrap().len(),
            owned
        );
        backend.close().await;
    }
}
