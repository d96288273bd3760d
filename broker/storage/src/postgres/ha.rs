//! HA on PostgreSQL: who leads, and the fence that stops everyone else writing
//! (docs/ARCHITECTURE.md, "HA").
//!
//! Leadership is a session advisory lock ([`LOCK_KEY`]) held by a [`Leadership`] on its own
//! connection, outside the pool: PostgreSQL releases it the moment that session ends (crash,
//! kill -9, `pg_terminate_backend`, a partition noticed by TCP keepalives), with no TTL to tune.
//! A lock only says who leads *now*; it cannot stop a write the old leader already sent on a
//! pooled connection. So taking the lock also bumps the epoch in `lessor_ha_leader`, and every
//! write of an HA backend runs in a transaction that first reads that epoch `FOR SHARE` and
//! goes on only if it is the epoch this node acquired ([`begin_fenced`]). The bump is an UPDATE
//! of the same row: it waits for the old leader's in-flight writes and makes every later one
//! fail with [`StorageError::Fenced`]. The node's epoch lives in one `AtomicI64` shared by the
//! backend and its [`Leadership`]; 0 means "not leading" and fails writes without a round trip.
//!
//! One database holds one Lessor cluster: the lock key and the table names are fixed, so two
//! clusters in one database (even in different schemas: advisory locks are per database) would
//! share one leadership and overwrite each other's keyring.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool, Postgres, Transaction};

use super::{PostgresBackend, parse_url};
use crate::StorageError;

/// The advisory lock key of leadership: the bytes of the name `lessorHA` as a big-endian
/// `i64` (0x6c6573736f724841). Fixed forever, since every node of a cluster must agree on it; in
/// `pg_locks` it shows as `classid` 0x6c657373, `objid` 0x6f724841.
pub(crate) const LOCK_KEY: i64 = i64::from_be_bytes(*b"lessorHA");

/// Server-side TCP settings for every connection of an HA node. A session whose client vanished
/// without a word (a partition, a powered-off host) otherwise lives for the kernel's default of
/// two hours: holding the leadership lock on the lock connection, or an in-flight write's
/// `FOR SHARE` (which a takeover waits for) on a pooled one. With these PostgreSQL drops it
/// after about 6 s idle (3 s, then 3 probes 1 s apart) or 6 s of unacknowledged data.
const KEEPALIVES: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "3"),
    ("tcp_keepalives_interval", "1"),
    ("tcp_keepalives_count", "3"),
    ("tcp_user_timeout", "6000"),
];

/// Bounds every statement on the lock connection on the server side. The epoch bump waits for
/// the old leader's in-flight writes; a write batch longer than this makes the attempt fail
/// (and the lock go back) rather than hang, and the next attempt tries again.
const LOCK_STATEMENT_TIMEOUT: &str = "10s";

/// How long a [`Leadership::check`] may take before leadership is considered lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Client-side bound on a whole [`Leadership::try_acquire`] (connect, lock, bump): a partition
/// must not hang the caller. Longer than [`LOCK_STATEMENT_TIMEOUT`] so that a slow bump fails
/// with the server's error rather than this one.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// Client-side bound on [`Leadership::release`]; past it the connection is simply dropped,
/// which also releases the lock.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Shown in `pg_stat_activity`, so operators can find (and tests can kill) the lock session.
const LOCK_APPLICATION_NAME: &str = "lessor-leadership";

const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1)";
const UNLOCK: &str = "SELECT pg_advisory_unlock($1)";
const BUMP_EPOCH: &str = "UPDATE lessor_ha_leader SET epoch = epoch + 1, node_id = $1, \
                          api_addr = $2, cluster_addr = $3, acquired_at = now() \
                          WHERE id = 1 RETURNING epoch";
/// On release: nobody leads until the next acquire. Only if the row is still ours.
const CLEAR_LEADER: &str = "UPDATE lessor_ha_leader SET node_id = NULL, api_addr = NULL, \
                            cluster_addr = NULL, acquired_at = NULL WHERE id = 1 AND epoch = $1";
const EPOCH: &str = "SELECT epoch FROM lessor_ha_leader WHERE id = 1";
const EPOCH_FOR_SHARE: &str = "SELECT epoch FROM lessor_ha_leader WHERE id = 1 FOR SHARE";
const LEADER: &str = "SELECT node_id, api_addr, cluster_addr, epoch, \
                      (extract(epoch FROM acquired_at) * 1000000)::int8 \
                      FROM lessor_ha_leader WHERE id = 1";

/// This node, as it registers itself when it takes leadership (what standbys forward to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub node_id: String,
    /// The address other nodes forward client requests to.
    pub api_addr: String,
    /// Reported only (`sys/leader`).
    pub cluster_addr: Option<String>,
}

/// The current leader according to the epoch row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    pub node_id: String,
    pub api_addr: String,
    pub cluster_addr: Option<String>,
    /// The leader's epoch; grows by one on every takeover.
    pub epoch: i64,
    /// When it took leadership (database clock).
    pub acquired_at: time::OffsetDateTime,
}

impl PostgresBackend {
    /// Like [`connect`](Self::connect), with fencing on: writes fail with
    /// [`StorageError::Fenced`] until this node leads through [`leadership`](Self::leadership).
    /// Reads are never fenced.
    pub async fn connect_ha(
        connection_url: &str,
        max_connections: u32,
    ) -> Result<Self, StorageError> {
        let options = parse_url(connection_url)?.options(KEEPALIVES);
        Self::open(options, max_connections, Some(Arc::new(AtomicI64::new(0)))).await
    }

    /// The leadership handle sharing this backend's fence. Opens its own dedicated connection
    /// (not from the pool: the lock lives exactly as long as that session) and fails if it
    /// cannot, or if this backend was opened without HA.
    pub async fn leadership(
        &self,
        connection_url: &str,
        node: NodeInfo,
    ) -> Result<Leadership, StorageError> {
        let Some(fence) = &self.fence else {
            return Err(StorageError::InvalidConfig(
                "leadership needs a PostgreSQL backend opened with HA enabled".to_owned(),
            ));
        };
        if node.node_id.is_empty() || node.api_addr.is_empty() {
            return Err(StorageError::InvalidConfig(
                "an HA node needs a node id and an api_addr".to_owned(),
            ));
        }
        let options = parse_url(connection_url)?
            .application_name(LOCK_APPLICATION_NAME)
            .options(KEEPALIVES)
            .options([("statement_timeout", LOCK_STATEMENT_TIMEOUT)]);
        let mut leadership = Leadership {
            options,
            connection: None,
            lock_pid: None,
            fence: Arc::clone(fence),
            node,
        };
        let connection = within(ACQUIRE_TIMEOUT, "open the leadership connection", async {
            leadership.open().await
        })
        .await?;
        leadership.connection = Some(connection);
        Ok(leadership)
    }

    /// Whether this node's fence lets writes through: its [`Leadership`] took leadership and
    /// has not lost or released it since (as far as this node knows: a takeover it has not
    /// noticed yet still fails its writes at the epoch row). Always false without HA.
    pub fn leads(&self) -> bool {
        self.fence
            .as_ref()
            .is_some_and(|fence| fence.load(Ordering::SeqCst) != 0)
    }

    /// Who leads according to the epoch row: `None` when no node leads (nobody ever did, or the
    /// last leader released leadership and nobody took over yet). After a crash the row still
    /// names the dead leader until another node takes over.
    pub async fn current_leader(&self) -> Result<Option<LeaderInfo>, StorageError> {
        read_leader(&self.pool).await
    }
}

type LeaderColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

async fn read_leader(pool: &PgPool) -> Result<Option<LeaderInfo>, StorageError> {
    let columns: Option<LeaderColumns> = sqlx::query_as(LEADER)
        .fetch_optional(pool)
        .await
        .map_err(StorageError::database("read the current leader"))?;
    let Some((node_id, api_addr, cluster_addr, epoch, acquired_micros)) = columns else {
        return Err(StorageError::Corrupt("the HA leader row is missing"));
    };
    let Some(node_id) = node_id else {
        return Ok(None);
    };
    let (Some(api_addr), Some(acquired_micros)) = (api_addr, acquired_micros) else {
        return Err(StorageError::Corrupt("the HA leader row is incomplete"));
    };
    let acquired_at =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(acquired_micros) * 1000)
            .map_err(|_| StorageError::Corrupt("the HA leader row has an impossible time"))?;
    Ok(Some(LeaderInfo {
        node_id,
        api_addr,
        cluster_addr,
        epoch,
        acquired_at,
    }))
}

/// Begins a write transaction of an HA backend, or fails with [`StorageError::Fenced`].
///
/// The epoch row stays locked `FOR SHARE` until the transaction ends, so a takeover's epoch
/// bump (an UPDATE of that row) cannot commit in the middle of this write: the write lands
/// entirely before the new leader starts, or fails here. The fence is read again after the row
/// is locked, so a leadership loss noticed locally in the meantime also stops the write.
pub(super) async fn begin_fenced(
    pool: &PgPool,
    fence: &AtomicI64,
    operation: &'static str,
) -> Result<Transaction<'static, Postgres>, StorageError> {
    if fence.load(Ordering::SeqCst) == 0 {
        return Err(StorageError::Fenced);
    }
    let mut tx = pool
        .begin()
        .await
        .map_err(StorageError::database(operation))?;
    let epoch: i64 = sqlx::query_scalar(EPOCH_FOR_SHARE)
        .fetch_one(&mut *tx)
        .await
        .map_err(StorageError::database("check the leadership epoch"))?;
    let held = fence.load(Ordering::SeqCst);
    if held == 0 || epoch != held {
        // Dropping `tx` rolls it back; nothing was written.
        return Err(StorageError::Fenced);
    }
    Ok(tx)
}

/// This node's claim to leadership: a dedicated PostgreSQL session that holds (or tries to
/// take) the advisory lock, and the fence it shares with its [`PostgresBackend`]. Dropping it
/// clears the fence and closes the session, which gives the lock up.
pub struct Leadership {
    /// Holds the password, if the URL has one: never printed.
    options: PgConnectOptions,
    /// The lock session; `None` after a failure or a release, reopened by the next attempt.
    connection: Option<PgConnection>,
    lock_pid: Option<i32>,
    fence: Arc<AtomicI64>,
    node: NodeInfo,
}

impl Leadership {
    /// One non-blocking attempt. `Some(epoch)` when this node now leads (the fence is set to
    /// that epoch and writes go through); `None` when another node holds the lock. Leading
    /// already is `Some` of the current epoch, with no new bump. Reopens the lock connection
    /// if an earlier failure or release closed it. On `Err` this node does not lead.
    pub async fn try_acquire(&mut self) -> Result<Option<i64>, StorageError> {
        let held = self.fence.load(Ordering::SeqCst);
        if held != 0 {
            return Ok(Some(held));
        }
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => {
                within(
                    ACQUIRE_TIMEOUT,
                    "open the leadership connection",
                    self.open(),
                )
                .await?
            }
        };
        let attempt = within(
            ACQUIRE_TIMEOUT,
            "acquire leadership",
            acquire(&mut connection, &self.node),
        )
        .await;
        match attempt {
            Ok(Some(epoch)) => {
                self.fence.store(epoch, Ordering::SeqCst);
                self.connection = Some(connection);
                tracing::info!(epoch, node_id = %self.node.node_id, "took HA leadership");
                Ok(Some(epoch))
            }
            Ok(None) => {
                self.connection = Some(connection);
                Ok(None)
            }
            Err(error) => {
                // Possibly holding the lock without a committed epoch, or in an unknown state
                // after a timeout: closing the session is the one way to be sure of neither.
                drop(connection);
                self.lock_pid = None;
                Err(error)
            }
        }
    }

    /// `Ok` while the lock session answers (within 2 s) and the epoch row still carries this
    /// node's epoch. `Err` means leadership must be considered lost: the fence is already
    /// cleared (writes stop) and the session closed when this returns. Not leading is
    /// `Err(Fenced)`.
    pub async fn check(&mut self) -> Result<(), StorageError> {
        let held = self.fence.load(Ordering::SeqCst);
        if held == 0 {
            return Err(StorageError::Fenced);
        }
        let Some(connection) = self.connection.as_mut() else {
            self.lose("the leadership connection is closed");
            return Err(StorageError::Fenced);
        };
        let epoch = within(CHECK_TIMEOUT, "check the leadership lock", async move {
            sqlx::query_scalar::<_, i64>(EPOCH)
                .fetch_one(connection)
                .await
                .map_err(StorageError::database("check the leadership lock"))
        })
        .await;
        match epoch {
            Ok(epoch) if epoch == held => Ok(()),
            Ok(_) => {
                self.lose("another node bumped the leadership epoch");
                Err(StorageError::Fenced)
            }
            Err(error) => {
                self.lose("the leadership connection failed");
                Err(error)
            }
        }
    }

    /// Gives leadership up: the fence is cleared first (writes stop at once), then the leader
    /// row is emptied (after this node's in-flight writes, whose `FOR SHARE` it waits for), the
    /// lock released and the session closed. Failures are logged: the closed session releases
    /// the lock anyway.
    pub async fn release(&mut self) {
        let held = self.fence.swap(0, Ordering::SeqCst);
        self.lock_pid = None;
        let Some(connection) = self.connection.take() else {
            return;
        };
        let released = within(RELEASE_TIMEOUT, "release leadership", async move {
            let mut connection = connection;
            if held != 0 {
                sqlx::query(CLEAR_LEADER)
                    .bind(held)
                    .execute(&mut connection)
                    .await
                    .map_err(StorageError::database("clear the leader row"))?;
            }
            sqlx::query_scalar::<_, bool>(UNLOCK)
                .bind(LOCK_KEY)
                .fetch_one(&mut connection)
                .await
                .map_err(StorageError::database("release the leadership lock"))?;
            connection
                .close()
                .await
                .map_err(StorageError::database("close the leadership connection"))
        })
        .await;
        match released {
            Ok(()) if held != 0 => tracing::info!(epoch = held, "released HA leadership"),
            Ok(()) => {}
            Err(error) => tracing::warn!(
                %error,
                "releasing HA leadership failed; the closed session releases the lock"
            ),
        }
    }

    /// The epoch this node leads with; 0 when it does not lead.
    pub fn epoch(&self) -> i64 {
        self.fence.load(Ordering::SeqCst)
    }

    /// The backend process id of the lock session (`pg_stat_activity.pid`), while one is open:
    /// for operators, and for tests that cut it with `pg_terminate_backend`.
    pub fn lock_pid(&self) -> Option<i32> {
        self.lock_pid
    }

    /// Opens the lock session and records its backend pid.
    async fn open(&mut self) -> Result<PgConnection, StorageError> {
        let mut connection = PgConnection::connect_with(&self.options)
            .await
            .map_err(StorageError::database("open the leadership connection"))?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut connection)
            .await
            .map_err(StorageError::database("open the leadership connection"))?;
        self.lock_pid = Some(pid);
        Ok(connection)
    }

    /// Leadership is gone: stop writes first, then drop the session (without waiting on a
    /// connection that may be dead).
    fn lose(&mut self, why: &'static str) {
        let epoch = self.fence.swap(0, Ordering::SeqCst);
        self.connection = None;
        self.lock_pid = None;
        if epoch != 0 {
            tracing::warn!(epoch, why, "lost HA leadership");
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // The session closes with the connection; writes must stop with it.
        self.fence.store(0, Ordering::SeqCst);
    }
}

// Hand-written: the connect options may hold a password.
impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("node", &self.node)
            .field("epoch", &self.epoch())
            .field("lock_pid", &self.lock_pid)
            .finish_non_exhaustive()
    }
}

/// The lock, then (only if it was free) the epoch bump and leader row in one transaction on the
/// lock session. The bump waits for the old leader's in-flight fenced writes.
async fn acquire(
    connection: &mut PgConnection,
    node: &NodeInfo,
) -> Result<Option<i64>, StorageError> {
    let locked: bool = sqlx::query_scalar(TRY_LOCK)
        .bind(LOCK_KEY)
        .fetch_one(&mut *connection)
        .await
        .map_err(StorageError::database("try the leadership lock"))?;
    if !locked {
        return Ok(None);
    }
    let mut tx = connection
        .begin()
        .await
        .map_err(StorageError::database("bump the leadership epoch"))?;
    let epoch: i64 = sqlx::query_scalar(BUMP_EPOCH)
        .bind(node.node_id.as_str())
        .bind(node.api_addr.as_str())
        .bind(node.cluster_addr.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(StorageError::database("bump the leadership epoch"))?;
    tx.commit()
        .await
        .map_err(StorageError::database("bump the leadership epoch"))?;
    Ok(Some(epoch))
}

/// `future`, or a timeout error labelled `operation` once `limit` has passed.
async fn within<T>(
    limit: Duration,
    operation: &'static str,
    future: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| {
            Err(StorageError::Database {
                operation,
                source: sqlx::Error::Io(std::io::ErrorKind::TimedOut.into()),
            })
        })
}
