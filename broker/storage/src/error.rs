//! The crate's error type. Messages name the operation and the cause but never a key or a
//! value: values are sealed blobs and keys can still be sensitive in a log (lease ids, paths).

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The caller passed a key this store cannot hold; nothing was written.
    #[error("invalid storage key: {0}")]
    InvalidKey(&'static str),
    /// The caller passed a prefix this store refuses; nothing was read or written.
    #[error("invalid storage prefix: {0}")]
    InvalidPrefix(&'static str),
    /// The caller passed a lease row (or owner) this store cannot hold; nothing was written.
    #[error("invalid lease: {0}")]
    InvalidLease(&'static str),
    /// The database holds something this crate never writes (for example an unknown lease
    /// state): another program or a newer broker changed it.
    #[error("storage holds an unreadable row: {0}")]
    Corrupt(&'static str),
    /// A constructor was given settings it cannot use.
    #[error("invalid storage configuration: {0}")]
    InvalidConfig(String),
    /// The database failed (connection, I/O, constraint, timeout). The cause is sqlx's error,
    /// which describes the failure, not the bound parameters.
    #[error("storage failed to {operation}: {source}")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// HA fencing refused a write: this node does not hold the current leadership epoch (it
    /// never led, stepped down, or another node took over). Nothing was written. The broker
    /// treats this as "not the active node", never as a database failure to retry.
    #[error("this node is not the active node (leadership epoch changed)")]
    Fenced,
    /// Bringing the schema up to date failed when opening the store.
    #[error("storage schema migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StorageError {
    /// Whether HA fencing refused the write (see [`StorageError::Fenced`]).
    pub fn is_fenced(&self) -> bool {
        matches!(self, StorageError::Fenced)
    }

    /// Adapter for `map_err`: labels a sqlx error with what we were doing.
    pub(crate) fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
        move |source| StorageError::Database { operation, source }
    }
}
