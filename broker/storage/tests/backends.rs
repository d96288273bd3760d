//! Runs the conformance suite against every backend, then the checks only one backend has:
//! persistence across reopen, SQLite's journal mode, PostgreSQL's collation and concurrent
//! migrations, and a throwaway PostgreSQL cluster.

mod conformance;

use lessor_storage::{Backend, MemoryBackend, PostgresBackend, SqliteBackend, StorageError};
use lessor_test_support::postgres::TestPostgres;
use sqlx::Connection;

/// A backend under test and whatever must outlive it (the SQLite temp dir).
struct Subject {
    backend: Box<dyn Backend>,
    _dir: Option<tempfile::TempDir>,
}

async fn memory() -> Subject {
    Subject {
        backend: Box::new(MemoryBackend::new()),
        _dir: None,
    }
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&dir.path().join("lessor.db"))
        .await
        .unwrap();
    Subject {
        backend: Box::new(backend),
        _dir: Some(dir),
    }
}

async fn postgres() -> Subject {
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
    }
}

macro_rules! conformance_suite {
    ($backend:ident: $($check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let subject = super::$backend().await;
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
        );)*
    };
}

conformance_suite!(memory, sqlite, postgres);

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
    assert_eq!(migrations, 1, "reopening re-ran or duplicated migrations");
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
    assert_eq!(migrations, 1);
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
}
