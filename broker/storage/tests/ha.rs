//! HA leadership and fencing on a real PostgreSQL: two nodes (two `connect_ha` backends, two
//! leaderships) on one database. Exactly one leads; the other cannot write; a takeover fences
//! the old leader through the epoch row even before it notices; a takeover waits for the old
//! leader's in-flight write; `check` sees a cut lock session; `release` hands over at once.
//!
//! Waits that depend on PostgreSQL (a terminated session going away, a statement reaching a
//! lock wait) are observed in `pg_stat_activity`/by polling with a generous deadline, never
//! assumed from a sleep.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lessor_storage::{
    Backend, Leadership, LeaseIndex, LeaseRow, LeaseState, NodeInfo, Op, PostgresBackend,
    StorageError,
};
use lessor_test_support::postgres::TestPostgres;
use sqlx::{Connection, PgConnection};

/// Failsafe for waits on PostgreSQL; reaching it fails the test.
const DEADLINE: Duration = Duration::from_secs(30);

fn node(name: &str) -> NodeInfo {
    NodeInfo {
        node_id: name.into(),
        api_addr: format!("https://{name}.lessor.test:8200"),
        cluster_addr: Some(format!("https://{name}.lessor.test:8201")),
    }
}

fn lease(id: &str) -> LeaseRow {
    LeaseRow {
        id: id.into(),
        due_at: 1_700_000_000_000,
        state: LeaseState::Active,
        owner: Some("owner-hash".into()),
        value: vec![7; 16],
    }
}

/// One broker's view: its fenced backend and its leadership handle.
struct Node {
    backend: PostgresBackend,
    leadership: Leadership,
}

async fn fresh_url() -> String {
    TestPostgres::shared()
        .await
        .unwrap()
        .fresh_database()
        .await
        .unwrap()
}

async fn start(url: &str, name: &str) -> Node {
    let backend = PostgresBackend::connect_ha(url, 4).await.unwrap();
    let leadership = backend.leadership(url, node(name)).await.unwrap();
    Node {
        backend,
        leadership,
    }
}

fn assert_fenced<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(StorageError::Fenced) => {}
        other => panic!("{what}: expected Fenced, got {other:?}"),
    }
}

/// Every kind of write this backend has, each expected to be refused by the fence.
async fn assert_every_write_fenced(backend: &PostgresBackend, tag: &str) {
    assert_fenced(backend.put(&format!("{tag}/put"), b"v").await, "put");
    assert_fenced(backend.delete("shared/key").await, "delete");
    assert_fenced(
        backend
            .apply(&[Op::Put {
                key: format!("{tag}/apply"),
                value: b"v".to_vec(),
            }])
            .await,
        "apply",
    );
    assert_fenced(backend.delete_prefix("shared/").await, "delete_prefix");
    assert_fenced(
        backend.put_lease(&lease(&format!("{tag}/lease"))).await,
        "put_lease",
    );
    assert_fenced(
        backend.put_leases(&[lease(&format!("{tag}/leases"))]).await,
        "put_leases",
    );
    assert_fenced(backend.delete_lease("shared/lease").await, "delete_lease");
}

/// Tries to acquire until it succeeds: a terminated session releases its lock when its backend
/// process has gone, a moment after `pg_terminate_backend` returns.
async fn acquire_eventually(leadership: &mut Leadership) -> i64 {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(epoch) = leadership.try_acquire().await.unwrap() {
            return epoch;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lock was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a session of this database waits on a lock while running a statement that
/// starts with `statement` (and, if given, is the backend `pid`); returns its pid.
async fn wait_for_lock_wait(admin: &mut PgConnection, statement: &str, pid: Option<i32>) -> i32 {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND starts_with(query, $1) \
             AND ($2::int4 IS NULL OR pid = $2) LIMIT 1",
        )
        .bind(statement)
        .bind(pid)
        .fetch_optional(&mut *admin)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no session ever waited on a lock in `{statement}`"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn terminate(admin: &mut PgConnection, pid: i32) {
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 10000)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(terminated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_node_leads_and_the_other_cannot_write() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let mut b = start(&url, "b").await;

    // Before anyone leads, nobody writes, and nobody is reported as leader.
    assert_every_write_fenced(&a.backend, "a").await;
    assert_eq!(a.backend.current_leader().await.unwrap(), None);

    let (got_a, got_b) = tokio::join!(a.leadership.try_acquire(), b.leadership.try_acquire());
    let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
    assert!(
        matches!((got_a, got_b), (Some(1), None) | (None, Some(1))),
        "{got_a:?} {got_b:?}"
    );
    let (leader, follower, leader_name) = if got_a.is_some() {
        (&mut a, &mut b, "a")
    } else {
        (&mut b, &mut a, "b")
    };
    assert_eq!(leader.leadership.epoch(), 1);
    assert_eq!(follower.leadership.epoch(), 0);
    assert!(leader.backend.leads());
    assert!(!follower.backend.leads());
    // Trying again changes nothing: the lock is held, and the leader does not bump itself.
    assert_eq!(follower.leadership.try_acquire().await.unwrap(), None);
    assert_eq!(leader.leadership.try_acquire().await.unwrap(), Some(1));
    leader.leadership.check().await.unwrap();
    assert_fenced(follower.leadership.check().await, "check while not leading");

    // The leader writes every kind of write.
    leader.backend.put("shared/key", b"leader").await.unwrap();
    leader
        .backend
        .apply(&[Op::Put {
            key: "shared/batch".into(),
            value: b"batch".to_vec(),
        }])
        .await
        .unwrap();
    leader
        .backend
        .put_leases(&[lease("shared/lease")])
        .await
        .unwrap();

    // The follower's writes are refused and leave nothing behind; its reads work.
    assert_every_write_fenced(&follower.backend, "follower").await;
    assert_eq!(
        follower.backend.get("shared/key").await.unwrap().as_deref(),
        Some(&b"leader"[..])
    );
    assert!(
        follower
            .backend
            .get_lease("shared/lease")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        follower.backend.list("").await.unwrap(),
        vec!["shared/".to_owned()]
    );
    assert_eq!(
        follower.backend.list_leases("").await.unwrap(),
        vec!["shared/".to_owned()]
    );

    let info = follower.backend.current_leader().await.unwrap().unwrap();
    assert_eq!(info.node_id, leader_name);
    assert_eq!(info.api_addr, node(leader_name).api_addr);
    assert_eq!(info.cluster_addr, node(leader_name).cluster_addr);
    assert_eq!(info.epoch, 1);
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let skew: f64 = sqlx::query_scalar("SELECT abs(extract(epoch FROM now()) - $1)::float8")
        .bind(info.acquired_at.unix_timestamp() as f64)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(skew < 600.0, "acquired_at is {skew} s away from now()");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_fences_the_old_leader_before_it_notices() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let mut b = start(&url, "b").await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));
    a.backend.put("k", b"epoch 1").await.unwrap();

    // Cut A's lock session, as a partition or a database-side kill would.
    terminate(&mut admin, a.leadership.lock_pid().unwrap()).await;
    assert_eq!(acquire_eventually(&mut b.leadership).await, 2);

    // A has not noticed: its fence still holds epoch 1. The epoch row stops it anyway.
    assert_eq!(a.leadership.epoch(), 1);
    assert!(a.backend.leads());
    assert_every_write_fenced(&a.backend, "a").await;
    assert_eq!(
        a.backend.get("k").await.unwrap().as_deref(),
        Some(&b"epoch 1"[..])
    );
    assert_eq!(
        b.backend.current_leader().await.unwrap().unwrap().node_id,
        "b"
    );

    // Its next check notices, clears the fence, and A keeps failing, now without a round trip.
    assert!(a.leadership.check().await.is_err());
    assert_eq!(a.leadership.epoch(), 0);
    assert!(!a.backend.leads());
    assert_eq!(a.leadership.lock_pid(), None);
    assert_fenced(a.backend.put("k", b"late").await, "put after check");

    // The new leader writes; the old one, reconnecting, finds the lock taken.
    b.backend.put("k", b"epoch 2").await.unwrap();
    assert_eq!(a.leadership.try_acquire().await.unwrap(), None);
    assert!(a.leadership.lock_pid().is_some());
    assert_eq!(
        a.backend.get("k").await.unwrap().as_deref(),
        Some(&b"epoch 2"[..])
    );
}

/// A write of the old leader already past its fence check, blocked mid-transaction: the new
/// leader's epoch bump waits for it, the write lands whole, and A's next write fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_waits_for_the_old_leaders_in_flight_write() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let b = start(&url, "b").await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));

    // An uncommitted insert of "hold" makes A's batch stop at its second op, inside its
    // transaction, after the epoch row is locked FOR SHARE.
    let mut blocker = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; INSERT INTO lessor_entries (key, value) VALUES ('hold', '\\x00')")
        .execute(&mut blocker)
        .await
        .unwrap();
    let a_backend = a.backend.clone();
    let in_flight = tokio::spawn(async move {
        a_backend
            .apply(&[
                Op::Put {
                    key: "first".into(),
                    value: b"from a".to_vec(),
                },
                Op::Put {
                    key: "hold".into(),
                    value: b"from a".to_vec(),
                },
            ])
            .await
    });
    wait_for_lock_wait(&mut admin, "INSERT INTO lessor_entries", None).await;

    // B takes the lock (A's session is gone) but its epoch bump waits for A's write.
    terminate(&mut admin, a.leadership.lock_pid().unwrap()).await;
    let b_pid = b.leadership.lock_pid().unwrap();
    let mut b_leadership = b.leadership;
    let takeover = tokio::spawn(async move {
        let epoch = acquire_eventually(&mut b_leadership).await;
        (epoch, b_leadership)
    });
    wait_for_lock_wait(&mut admin, "UPDATE lessor_ha_leader", Some(b_pid)).await;
    assert!(!takeover.is_finished());
    assert!(!in_flight.is_finished());

    // Let A's write go on: it commits whole, then the bump goes through.
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    in_flight.await.unwrap().unwrap();
    let (epoch, _b_leadership) = takeover.await.unwrap();
    assert_eq!(epoch, 2);
    for key in ["first", "hold"] {
        assert_eq!(
            b.backend.get(key).await.unwrap().as_deref(),
            Some(&b"from a"[..]),
            "{key}"
        );
    }

    // A still believes it leads; its next write fails.
    assert_eq!(a.leadership.epoch(), 1);
    assert_fenced(a.backend.put("first", b"late").await, "put after takeover");
    b.backend.put("first", b"from b").await.unwrap();
}

/// The other order: a write that starts while a takeover's bump is uncommitted waits for it,
/// then reads the new epoch and fails; if the bump rolls back, the write goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_an_uncommitted_bump_waits_and_sees_its_outcome() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));

    for (outcome, expected_fenced) in [("ROLLBACK", false), ("COMMIT", true)] {
        let mut bumper = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN; UPDATE lessor_ha_leader SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut bumper)
            .await
            .unwrap();
        let a_backend = a.backend.clone();
        let write = tokio::spawn(async move { a_backend.put("k", outcome.as_bytes()).await });
        wait_for_lock_wait(&mut admin, "SELECT epoch FROM lessor_ha_leader", None).await;
        assert!(!write.is_finished());
        sqlx::raw_sql(outcome).execute(&mut bumper).await.unwrap();
        let result = write.await.unwrap();
        if expected_fenced {
            assert_fenced(result, "write after a committed bump");
        } else {
            result.unwrap();
        }
    }
    // Only the write that saw the rolled-back bump landed.
    assert_eq!(
        a.backend.get("k").await.unwrap().as_deref(),
        Some(&b"ROLLBACK"[..])
    );
    // The lock session still answers, but the epoch moved under it: check gives up too.
    assert_fenced(a.leadership.check().await, "check after a foreign bump");
    assert_eq!(a.leadership.epoch(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_once_the_lock_session_is_cut_and_the_node_can_lead_again() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));
    a.leadership.check().await.unwrap();
    let first_pid = a.leadership.lock_pid().unwrap();

    terminate(&mut admin, first_pid).await;
    let error = a.leadership.check().await.unwrap_err();
    assert!(
        !error.is_fenced(),
        "a dead session is a database error: {error}"
    );
    assert_eq!(a.leadership.epoch(), 0);
    assert_fenced(a.backend.put("k", b"v").await, "put after a failed check");

    // Nobody else leads: the next attempt opens a new session and takes a new epoch.
    assert_eq!(acquire_eventually(&mut a.leadership).await, 2);
    assert_ne!(a.leadership.lock_pid(), Some(first_pid));
    a.backend.put("k", b"v").await.unwrap();
}

/// A lock session that does not answer (here: its check query stuck behind an exclusive table
/// lock; in production, a partition) is leadership lost after the check's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_gives_up_when_the_lock_session_does_not_answer() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let mut b = start(&url, "b").await;
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));
    let mut blocker = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE lessor_ha_leader IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let error = a.leadership.check().await.unwrap_err();
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(a.leadership.epoch(), 0);
    assert_fenced(a.backend.put("k", b"v").await, "put after a silent session");

    // Once the table is free, the abandoned session finds its client gone and ends, and the
    // lock goes to B.
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    assert_eq!(acquire_eventually(&mut b.leadership).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_hands_leadership_over_at_once() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    let mut b = start(&url, "b").await;
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));
    assert_eq!(b.leadership.try_acquire().await.unwrap(), None);

    a.leadership.release().await;
    assert_eq!(a.leadership.epoch(), 0);
    assert!(!a.backend.leads());
    assert_eq!(a.leadership.lock_pid(), None);
    assert_fenced(a.backend.put("k", b"v").await, "put after release");
    assert_eq!(b.backend.current_leader().await.unwrap(), None);

    // One attempt, no waiting: the lock went back with the release.
    assert_eq!(b.leadership.try_acquire().await.unwrap(), Some(2));
    b.backend.put("k", b"v").await.unwrap();
    assert_eq!(
        a.backend.current_leader().await.unwrap().unwrap().node_id,
        "b"
    );

    // Releasing twice, or when not leading, is harmless.
    a.leadership.release().await;
    b.leadership.release().await;
    b.leadership.release().await;
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(3));
}

#[tokio::test]
async fn dropping_the_leadership_stops_writes() {
    let url = fresh_url().await;
    let mut a = start(&url, "a").await;
    assert_eq!(a.leadership.try_acquire().await.unwrap(), Some(1));
    a.backend.put("k", b"v").await.unwrap();
    drop(a.leadership);
    assert!(!a.backend.leads());
    assert_fenced(a.backend.put("k", b"w").await, "put after drop");
}

#[tokio::test]
async fn leadership_needs_an_ha_backend_and_a_node_address() {
    let url = fresh_url().await;
    let plain = PostgresBackend::connect(&url, 1).await.unwrap();
    let refused = plain.leadership(&url, node("a")).await;
    assert!(
        matches!(refused, Err(StorageError::InvalidConfig(_))),
        "{refused:?}"
    );
    // A plain backend is not fenced at all (and leads nothing).
    plain.put("k", b"v").await.unwrap();
    assert!(!plain.leads());

    let ha = PostgresBackend::connect_ha(&url, 1).await.unwrap();
    let mut nameless = node("a");
    nameless.api_addr.clear();
    assert!(matches!(
        ha.leadership(&url, nameless).await,
        Err(StorageError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn leadership_debug_and_errors_do_not_show_the_password() {
    let pg = TestPostgres::shared().await.unwrap();
    let url = pg.fresh_database().await.unwrap();
    let database = url.rsplit('/').next().unwrap();
    // Trust authentication ignores the password, so the URL still connects.
    let with_password = format!(
        "postgres://postgres:hunter2-secret@127.0.0.1:{}/{database}",
        pg.port()
    );
    let backend = PostgresBackend::connect_ha(&with_password, 1)
        .await
        .unwrap();
    let leadership = backend.leadership(&with_password, node("a")).await.unwrap();
    let shown = format!("{leadership:?} {backend:?}");
    assert!(!shown.contains("hunter2"), "{shown}");

    let missing = format!(
        "postgres://postgres:hunter2-secret@127.0.0.1:{}/lessor_no_such_database",
        pg.port()
    );
    let message = backend
        .leadership(&missing, node("a"))
        .await
        .unwrap_err()
        .to_string();
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn fenced_is_its_own_error() {
    let fenced = StorageError::Fenced;
    assert!(fenced.is_fenced());
    assert!(!StorageError::InvalidKey("x").is_fenced());
    assert_eq!(
        fenced.to_string(),
        "this node is not the active node (leadership epoch changed)"
    );
}
