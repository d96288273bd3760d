//! The sealed part of a lease: everything needed to renew or revoke it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use lessor_storage::LeaseState;

/// A lease as the broker knows it. Stored sealed; the index row repeats only `id`, `due_at`,
/// `state` and `owner`.
#[derive(Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub id: String,
    /// The mount that issued it (`database/`), whose engine renews and revokes it.
    pub mount: String,
    /// The engine's secret kind; it decodes `payload` by it.
    pub kind: String,
    /// What the engine needs to renew or revoke (may name credentials: never logged).
    pub payload: serde_json::Value,
    #[serde(with = "state_serde")]
    pub state: LeaseState,
    #[serde(with = "time::serde::rfc3339")]
    pub issue_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expire_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_renewal: Option<OffsetDateTime>,
    /// No renewal may push `expire_time` past this.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub max_expire: Option<OffsetDateTime>,
    pub renewable: bool,
    /// The token (by hash) whose revocation revokes this lease.
    pub owner: Option<String>,
    /// Unix milliseconds; must equal the index row's plain `due_at`.
    pub due_at: i64,
    /// Failed revocation attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last revocation error, for operators (never contains secrets: engine errors don't).
    #[serde(default)]
    pub last_error: Option<String>,
}

impl LeaseRecord {
    /// A lease due at its expiry, with no owner, not renewable, never renewed or retried;
    /// callers adjust what differs.
    pub fn new(
        id: String,
        mount: &str,
        kind: &str,
        payload: serde_json::Value,
        state: LeaseState,
        issue_time: OffsetDateTime,
        expire_time: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            mount: mount.to_string(),
            kind: kind.to_string(),
            payload,
            state,
            issue_time,
            expire_time,
            last_renewal: None,
            max_expire: Some(expire_time),
            renewable: false,
            owner: None,
            due_at: unix_ms(expire_time),
            attempts: 0,
            last_error: None,
        }
    }
}

impl std::fmt::Debug for LeaseRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseRecord")
            .field("id", &self.id)
            .field("mount", &self.mount)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("expire_time", &self.expire_time)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

pub(crate) fn unix_ms(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

mod state_serde {
    use lessor_storage::LeaseState;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(state: &LeaseState, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match state {
            LeaseState::Pending => "pending",
            LeaseState::Active => "active",
            LeaseState::Irrevocable => "irrevocable",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LeaseState, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "pending" => Ok(LeaseState::Pending),
            "active" => Ok(LeaseState::Active),
            "irrevocable" => Ok(LeaseState::Irrevocable),
            other => Err(serde::de::Error::custom(format!(
                "unknown lease state {other:?}"
            ))),
        }
    }
}
