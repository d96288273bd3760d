//! Runs the conformance suite against every backend, then the checks only one backend has:
//! persistence across reopen, SQLite's journal mode, PostgreSQL's collation and concurrent
//! migrations, and a throwaway PostgreSQL cluster. PostgreSQL runs the suite twice: plain, and
//! with HA on as the leader (the fenced write path). The HA properties themselves are in
//! `tests/ha.rs`.

#[cfg(test)]
mod conformance;

use std::sync::Arc;

use lessor_storage::{
    Backend, Leadership, LeaseIndex, LeaseRow, LeaseState, MemoryBackend, NodeInfo,
    PostgresBackend, SqliteBackend, Storage, StorageError,
};
use lessor_test_support::postgres::TestPostgres;
use sqlx::Connection;

/// The backends under test, each over an empty store.
#[cfg(test)]
mod subject {
    use super::*;

    /// A backend under test and whatever must outlive it (the SQLite temp dir, the leadership
    /// that lets an HA backend write).
    pub struct Subject {
        pub backend: Box<dyn Storage>,
        _dir: Option<tempfile::TempDir>,
        _leadership: Option<Leadership>,
    }

    pub async fn memory() -> Subject {
        Subject {
            backend: Box::new(MemoryBackend::new()),
            _dir: None,
            _leadership: None,
        }
    }

    pub async fn sqlite() -> Subject {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(&dir.path().join("lessor.db"))
            .await
            .unwrap();
        Subject {
            backend: Box::new(backend),
            _dir: Some(dir),
            _leadership: None,
        }
    }

    pub async fn postgres() -> Subject {
        let url = TestPostgres::shared()
            .await
            .unwrap()
            .fresh_database()
            .await
            .unwrap();
        let backend = PostgresBackend::connect(&url, 8).await.unwrap();
        Subject {
            backend: Box::new(backend),
            _dir: None,
            _leadership: None,
        }
    }

    /// PostgreSQL with HA on, as the leader: every write goes through the fenced path, which
    /// must behave exactly like the plain one.
    pub async fn postgres_ha() -> Subject {
        let url = TestPostgres::shared()
            .await
            .unwrap()
            .fresh_database()
            .await
            .unwrap();
        let backend = PostgresBackend::connect_ha(&url, 8).await.unwrap();
        let node = NodeInfo {
            node_id: "conformance".into(),
            api_addr: "https://127.0.0.1:8200".into(),
            cluster_addr: None,
        };
        let mut leadership = backend.leadership(&url, node).await.unwrap();
        assert_eq!(leadership.try_acquire().await.unwrap(), Some(1));
        Subject {
            backend: Box::new(backend),
            _dir: None,
            _leadership: Some(leadership),
        }
    }
}

macro_rules! conformance_suite {
    ($backend:ident: $($check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let subject = super::subject::$backend().await;
                    super::conformance::$check(subject.backend.as_ref()).await;
                }
            )*
        }
    };
    ($($backend:ident),*) => {
        $(conformance_suite!($backend:
            put_get_delete, overwrite, delete_missing, list_semantics, list_unicode,
            list_many_children, large_values, apply_in_order, apply_is_atomic,
            invalid_keys_are_rejected, delete_prefix, delete_prefix_unicode_edges,
            concurrent_writers,
            lease_put_get_replace, lease_delete, lease_due_order_limit_and_ties,
            lease_prefix_paging, lease_list_semantics, lease_list_many_children,
            lease_owner_index, lease_counts, lease_invalid_input, lease_batches,
            lease_concurrent_put_delete, lease_twenty_thousand,
        );)*
    };
}

conformance_suite!(memory, sqlite, postgres, postgres_ha);

#[tokio::test]
async fn sqlite_persists_across_reopen_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lessor.db");
    let backend = SqliteBackend::open(&path).await.unwrap();
    backend.put("sys/keyring", b"sealed keyring").await.unwrap();
    backend
        .apply(&[lessor_storage::Op::Put {
            key: "logical/x/y".into(),
            value: vec![1, 2, 3],
        }])
        .await
        .unwrap();
    let row = LeaseRow {
        id: "db/creds/app/1".into(),
        due_at: 1_700_000_000_000,
        state: LeaseState::Active,
        owner: Some("tok-hash".into()),
        value: vec![9; 40],
    };
    backend.put_lease(&row).await.unwrap();
    backend.close().await;
    assert!(
        backend.get("sys/keyring").await.is_err(),
        "a closed backend still answered"
    );

    let reopened = SqliteBackend::open(&path).await.unwrap();
    assert_eq!(
        reopened.get("sys/keyring").await.unwrap().as_deref(),
        Some(&b"sealed keyring"[..])
    );
    assert_eq!(
        reopened.get("logical/x/y").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(reopened.list("").await.unwrap(), ["logical/", "sys/"]);
    assert_eq!(
        reopened.get_lease("db/creds/app/1").await.unwrap(),
        Some(row)
    );
    assert_eq!(
        reopened.lease_ids_by_owner("tok-hash").await.unwrap(),
        ["db/creds/app/1"]
    );

    // The journal mode is stored in the file, so a separate connection can confirm it.
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(migrations, 2, "reopening re-ran or duplicated migrations");
}

/// The broker opens one backend as `Arc<dyn Storage>` and hands the barrier and the expiration
/// manager their halves by upcasting: both halves are the same store.
#[tokio::test]
async fn storage_upcasts_to_a_backend_and_a_lease_index_over_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let opened = SqliteBackend::open(&dir.path().join("lessor.db"))
        .await
        .unwrap();
    let storage: Arc<dyn Storage> = Arc::new(opened);
    let backend: Arc<dyn Backend> = Arc::clone(&storage).backend();
    let leases: Arc<dyn LeaseIndex> = Arc::clone(&storage).lease_index();
    backend.put("sys/k", b"v").await.unwrap();
    let row = LeaseRow {
        id: "m/1".into(),
        due_at: 1,
        state: LeaseState::Pending,
        owner: None,
        value: Vec::new(),
    };
    leases.put_lease(&row).await.unwrap();
    assert_eq!(
        storage.get("sys/k").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(storage.get_lease("m/1").await.unwrap(), Some(row));
    // Plain coercion works too, for callers that hold a concrete backend.
    let memory = Arc::new(MemoryBackend::new());
    let as_index: Arc<dyn LeaseIndex> = memory.clone();
    let as_backend: Arc<dyn Backend> = memory;
    assert_eq!(as_index.count_leases("", None).await.unwrap(), 0);
    assert_eq!(as_backend.list("").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn sqlite_open_in_a_missing_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let result = SqliteBackend::open(&dir.path().join("absent/lessor.db")).await;
    assert!(
        matches!(result, Err(StorageError::InvalidConfig(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn postgres_persists_across_reconnect() {
    let url = TestPostgres::shared()
        .await
        .unwrap()
        .fresh_database()
        .await
        .unwrap();
    let backend = PostgresBackend::connect(&url, 2).await.unwrap();
    backend.put("sys/keyring", b"sealed keyring").await.unwrap();
    backend.close().await;
    drop(backend);

    let reconnected = PostgresBackend::connect(&url, 2).await.unwrap();
    assert_eq!(
        reconnected.get("sys/keyring").await.unwrap().as_deref(),
        Some(&b"sealed keyring"[..])
    );
    assert_eq!(reconnected.list("").await.unwrap(), ["sys/"]);
}

#[tokio::test]
async fn postgres_key_column_collates_bytewise() {
    let url = TestPostgres::shared()
        .await
        .unwrap()
        .fresh_database()
        .await
        .unwrap();
    let backend = PostgresBackend::connect(&url, 1).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let collation: Option<String> = sqlx::query_scalar(
        "SELECT collation_name FROM information_schema.columns \
         WHERE table_name = 'lessor_entries' AND column_name = 'key'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(collation.as_deref(), Some("C"));
    drop(backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_brokers_connecting_at_once_migrate_once() {
    let url = TestPostgres::shared()
        .await
        .unwrap()
        .fresh_database()
        .await
        .unwrap();
    let (a, b, c) = tokio::join!(
        PostgresBackend::connect(&url, 1),
        PostgresBackend::connect(&url, 1),
        PostgresBackend::connect(&url, 1),
    );
    let (a, b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    a.put("k", b"from a").await.unwrap();
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"from a"[..]));
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(migrations, 3);
    // The HA leader row is seeded once, whoever ran the migration.
    let leader_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM lessor_ha_leader")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(leader_rows, 1);
}

#[tokio::test]
async fn postgres_connect_needs_a_connection() {
    let url = TestPostgres::shared().await.unwrap().admin_url();
    let result = PostgresBackend::connect(&url, 0).await;
    assert!(
        matches!(result, Err(StorageError::InvalidConfig(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn postgres_connect_error_does_not_echo_the_password() {
    // A missing database fails at once (sqlx keeps retrying refused connections until its
    // acquire timeout, which is what a broker starting before its database wants).
    let port = TestPostgres::shared().await.unwrap().port();
    let url =
        format!("postgres://postgres:hunter2-secret@127.0.0.1:{port}/lessor_no_such_database");
    let result = PostgresBackend::connect(&url, 1).await;
    let message = result.unwrap_err().to_string();
    assert!(!message.contains("hunter2"), "{message}");
}

/// The fallback path when no local server answers; must work when the tests run as root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend_on_a_throwaway_cluster() {
    let pg = TestPostgres::start_throwaway().await.unwrap();
    assert!(pg.is_throwaway());
    let url = pg.fresh_database().await.unwrap();
    let backend = PostgresBackend::connect(&url, 4).await.unwrap();
    conformance::apply_is_atomic(&backend).await;
    backend.close().await;
    let reconnected = PostgresBackend::connect(&url, 1).await.unwrap();
    assert_eq!(
        reconnected.get("keep").await.unwrap().as_deref(),
        Some(&b"original"[..])
    );
    reconnected.close().await;

    // Each check assumes an empty store: a database of its own on the same cluster.
    let fresh = async || {
        PostgresBackend::connect(&pg.fresh_database().await.unwrap(), 4)
            .await
            .unwrap()
    };
    conformance::list_semantics(&fresh().await).await;
    conformance::concurrent_writers(&fresh().await).await;
    conformance::large_values(&fresh().await).await;
    conformance::lease_concurrent_put_delete(&fresh().await).await;
}
