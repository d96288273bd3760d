//! High availability: several brokers on one PostgreSQL database, one active, the others
//! standbys (docs/ARCHITECTURE.md, "HA").
//!
//! Leadership itself and the fence that stops a deposed node's writes belong to the storage
//! layer (`lessor_storage::Leadership`). This module is the broker's side of it: [`Ha`] is the
//! handle the core and the HTTP layer consult (who leads, forwarding or redirecting, giving
//! leadership up), and [`coordinate`] is the one task that takes leadership while the node is a
//! standby and watches it while the node is active, moving the core between the two. It knows
//! no HTTP: forwarding a request is `http::forward`'s job.

mod coordinator;
mod leader;

use lessor_storage::{LeaderInfo, Leadership, NodeInfo, PostgresBackend, StorageError};
use time::OffsetDateTime;

pub use coordinator::coordinate;

use leader::LeaderCache;

/// An HA node: its identity, its claim to leadership, and a cached view of who leads.
#[derive(Debug)]
pub struct Ha {
    node: NodeInfo,
    disable_forwarding: bool,
    backend: PostgresBackend,
    /// Locked for one attempt, check or release at a time. Lock order: the core's transition
    /// lock first, then this one; the coordinator never calls into the core while holding it.
    /// Whether it leads is read from `backend`'s fence, which it shares, without this lock.
    leadership: tokio::sync::Mutex<Leadership>,
    leader: LeaderCache,
    /// Wakes the coordinator when the core changes state (an unseal makes it try at once).
    wake: tokio::sync::Notify,
}

/// What `sys/leader` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderStatus {
    pub ha_enabled: bool,
    pub is_self: bool,
    /// The active node's `api_addr`; empty when none is known.
    pub leader_address: String,
    pub leader_cluster_address: String,
    /// When the active node took over, as this node knows it.
    pub active_time: Option<OffsetDateTime>,
}

impl LeaderStatus {
    /// A broker without HA: no leader to name, as Vault reports a single node.
    pub fn disabled() -> Self {
        Self {
            ha_enabled: false,
            is_self: false,
            leader_address: String::new(),
            leader_cluster_address: String::new(),
            active_time: None,
        }
    }
}

impl Ha {
    /// Opens this node's leadership handle on `backend` (which must have been opened with
    /// `connect_ha`, so its writes are fenced).
    pub async fn new(
        backend: PostgresBackend,
        connection_url: &str,
        node: NodeInfo,
        disable_forwarding: bool,
    ) -> Result<Self, StorageError> {
        let leadership = backend.leadership(connection_url, node.clone()).await?;
        Ok(Self {
            node,
            disable_forwarding,
            backend,
            leadership: tokio::sync::Mutex::new(leadership),
            leader: LeaderCache::default(),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Standbys answer 307 instead of forwarding.
    pub fn disable_forwarding(&self) -> bool {
        self.disable_forwarding
    }

    /// Whether this node still leads, asked of the database itself (the leader row, not the
    /// cache): for telling a fenced write apart from a real failure when the local fence has
    /// not caught up yet (another node took over a moment before this node's next check). The
    /// fence is cleared as soon as a check failed or the node gave leadership up, even before
    /// the core has stepped down. A row that cannot be read says nothing, and the answer is the
    /// local fence.
    pub async fn still_leads(&self) -> bool {
        if !self.backend.leads() {
            return false;
        }
        match self.backend.current_leader().await {
            Ok(leader) => leader.is_some_and(|leader| leader.node_id == self.node.node_id),
            Err(_) => true,
        }
    }

    /// One attempt to take leadership. `Some(epoch)` when this node now leads.
    pub(crate) async fn try_acquire(&self) -> Result<Option<i64>, StorageError> {
        let outcome = self.leadership.lock().await.try_acquire().await;
        if matches!(outcome, Ok(Some(_))) {
            self.leader.invalidate();
        }
        outcome
    }

    /// Whether leadership still holds. On `Err` it is lost and writes are already fenced.
    pub(crate) async fn check(&self) -> Result<(), StorageError> {
        let outcome = self.leadership.lock().await.check().await;
        if outcome.is_err() {
            self.leader.invalidate();
        }
        outcome
    }

    /// Gives leadership up (a no-op when not leading): writes stop first, then the lock goes,
    /// so a standby can take over at once.
    pub(crate) async fn release(&self) {
        self.leadership.lock().await.release().await;
        self.leader.invalidate();
    }

    /// Who leads according to the leader row, read at most about once a second.
    pub async fn current_leader(&self) -> Result<Option<LeaderInfo>, StorageError> {
        self.leader.get(&self.backend).await
    }

    /// Forgets the cached leader, e.g. after forwarding to it failed.
    pub fn forget_leader(&self) {
        self.leader.invalidate();
    }

    /// The address a standby forwards (or redirects) to: the leader row's `api_addr`, unless
    /// the row names this very node (it stepped down and nobody took over yet) or nobody.
    pub async fn forward_target(&self) -> Result<Option<String>, StorageError> {
        Ok(self
            .current_leader()
            .await?
            .filter(|leader| leader.node_id != self.node.node_id)
            .map(|leader| leader.api_addr))
    }

    /// `sys/leader` for an unsealed node; `active` says whether the core is the active node.
    pub async fn leader_status(&self, active: bool) -> Result<LeaderStatus, StorageError> {
        let row = self.current_leader().await?;
        if active {
            return Ok(LeaderStatus {
                ha_enabled: true,
                is_self: true,
                leader_address: self.node.api_addr.clone(),
                leader_cluster_address: self.node.cluster_addr.clone().unwrap_or_default(),
                active_time: row
                    .filter(|leader| leader.node_id == self.node.node_id)
                    .map(|leader| leader.acquired_at),
            });
        }
        let leader = row.filter(|leader| leader.node_id != self.node.node_id);
        Ok(LeaderStatus {
            ha_enabled: true,
            is_self: false,
            leader_address: leader
                .as_ref()
                .map(|leader| leader.api_addr.clone())
                .unwrap_or_default(),
            leader_cluster_address: leader
                .as_ref()
                .and_then(|leader| leader.cluster_addr.clone())
                .unwrap_or_default(),
            active_time: leader.map(|leader| leader.acquired_at),
        })
    }

    /// Tells the coordinator the core changed state.
    pub(crate) fn notify(&self) {
        self.leader.invalidate();
        self.wake.notify_one();
    }
}
