//! The lease index contract: [`LeaseIndex`] over rows whose due time is a plain, indexed column,
//! so the expiration manager reads only the leases due soon instead of loading every lease at
//! unseal (architecture invariant 6), and [`Storage`], one backend seen as both a key/value
//! [`Backend`] and a [`LeaseIndex`].
//!
//! Like every other value, a lease record reaches storage sealed by the barrier; only the id, the
//! due time, the state and the owner (already an HMAC of the token) are plain, because the
//! manager must query by them (invariant 2 allows lease expiry times).

use std::collections::HashMap;
use std::sync::Arc;

use crate::keyspace::{self, MAX_KEY_LEN};
use crate::{Backend, StorageError};

/// Where a lease stands in its life; stored as a `SMALLINT` (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseState {
    /// Recorded before the credential exists on the target system (invariant 3): if the broker
    /// dies now, the manager revokes whatever may have been created.
    Pending,
    /// The credential exists; the manager revokes it when it is due.
    Active,
    /// Revocation failed past the retry limit; kept for operators and metrics.
    Irrevocable,
}

impl LeaseState {
    /// The stored code. Fixed forever: these numbers are in every database.
    pub(crate) fn code(self) -> i16 {
        match self {
            LeaseState::Pending => 0,
            LeaseState::Active => 1,
            LeaseState::Irrevocable => 2,
        }
    }

    pub(crate) fn from_code(code: i16) -> Result<Self, StorageError> {
        match code {
            0 => Ok(LeaseState::Pending),
            1 => Ok(LeaseState::Active),
            2 => Ok(LeaseState::Irrevocable),
            _ => Err(StorageError::Corrupt("lease row has an unknown state")),
        }
    }

    /// Index into per-state counters.
    pub(crate) fn slot(self) -> usize {
        match self {
            LeaseState::Pending => 0,
            LeaseState::Active => 1,
            LeaseState::Irrevocable => 2,
        }
    }
}

/// One row of the lease index.
#[derive(Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The lease id, e.g. `database/creds/app/AbC123`; the same rules as [`Backend`] keys.
    pub id: String,
    /// Unix milliseconds: when the manager must act next (expiry, or the next retry).
    pub due_at: i64,
    pub state: LeaseState,
    /// Hash of the token that owns the lease; plain because it is already an HMAC.
    pub owner: Option<String>,
    /// The record sealed by the barrier.
    pub value: Vec<u8>,
}

// Hand-written: a row in a log line shows its shape, never the sealed record.
impl std::fmt::Debug for LeaseRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseRow")
            .field("id", &self.id)
            .field("due_at", &self.due_at)
            .field("state", &self.state)
            .field("owner", &self.owner)
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// The columns of a lease row as the SQL backends select them: `id, due_at, state, owner,
/// value`, in this order.
pub(crate) type LeaseColumns = (String, i64, i16, Option<String>, Vec<u8>);

impl TryFrom<LeaseColumns> for LeaseRow {
    type Error = StorageError;

    fn try_from((id, due_at, state, owner, value): LeaseColumns) -> Result<Self, StorageError> {
        Ok(LeaseRow {
            id,
            due_at,
            state: LeaseState::from_code(state)?,
            owner,
            value,
        })
    }
}

pub(crate) fn rows_from_columns(columns: Vec<LeaseColumns>) -> Result<Vec<LeaseRow>, StorageError> {
    columns.into_iter().map(LeaseRow::try_from).collect()
}

/// The lease index of one store. Ids and prefixes follow the [`Backend`] key rules and bytewise
/// order; `%` and `_` are ordinary characters everywhere.
#[async_trait::async_trait]
pub trait LeaseIndex: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts the row, or replaces every column of the row with the same id.
    async fn put_lease(&self, row: &LeaseRow) -> Result<(), StorageError>;
    /// [`put_lease`](Self::put_lease) for many rows, all or nothing. When an id appears more than
    /// once the last row wins. Every row is validated before anything is written.
    async fn put_leases(&self, rows: &[LeaseRow]) -> Result<(), StorageError>;
    async fn get_lease(&self, id: &str) -> Result<Option<LeaseRow>, StorageError>;
    /// Returns whether the lease existed.
    async fn delete_lease(&self, id: &str) -> Result<bool, StorageError>;
    /// Rows with `due_at < before`, ordered by `(due_at, id)`, at most `limit`.
    async fn leases_due_before(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRow>, StorageError>;
    /// Ids starting with `prefix` (a plain string prefix), in order, strictly after `after` when
    /// given, at most `limit`: pass the last id of one page as `after` to get the next.
    async fn lease_ids_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
    /// Immediate children of `prefix` among lease ids, with the semantics of [`Backend::list`].
    async fn list_leases(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Ids of the leases owned by `owner`, in order.
    async fn lease_ids_by_owner(&self, owner: &str) -> Result<Vec<String>, StorageError>;
    /// Ids of the leases in `state`, in order, strictly after `after` when given, at most
    /// `limit` (paged like [`lease_ids_with_prefix`](Self::lease_ids_with_prefix)).
    async fn lease_ids_in_state(
        &self,
        state: LeaseState,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
    /// How many ids start with `prefix`, counting only leases in `state` when given.
    async fn count_leases(
        &self,
        prefix: &str,
        state: Option<LeaseState>,
    ) -> Result<u64, StorageError>;
    /// `(pending, active, irrevocable)` over all leases, for metrics.
    async fn lease_state_counts(&self) -> Result<(u64, u64, u64), StorageError>;
}

/// A backend that is both a key/value store and a lease index: what the broker opens once and
/// hands out as `Arc<dyn Storage>`, then narrows with `storage.backend()` and
/// `storage.lease_index()` (trait upcasting; plain coercion works as well) for the parts that
/// need only one side.
pub trait Storage: Backend + LeaseIndex {}

impl<T: Backend + LeaseIndex + ?Sized> Storage for T {}

impl dyn Storage {
    /// The same store as a key/value [`Backend`] (for the barrier).
    pub fn backend(self: Arc<Self>) -> Arc<dyn Backend> {
        self
    }

    /// The same store as a [`LeaseIndex`] (for the expiration manager).
    pub fn lease_index(self: Arc<Self>) -> Arc<dyn LeaseIndex> {
        self
    }
}

/// Checks a row against the rules every backend enforces, before anything is written.
pub(crate) fn validate_row(row: &LeaseRow) -> Result<(), StorageError> {
    keyspace::validate_key(&row.id)?;
    if let Some(owner) = &row.owner {
        validate_owner(owner)?;
    }
    Ok(())
}

/// An owner is an index key on PostgreSQL, so it has the key rules: not empty (no owner is
/// `None`), no NUL, at most [`MAX_KEY_LEN`] bytes.
pub(crate) fn validate_owner(owner: &str) -> Result<(), StorageError> {
    if owner.is_empty() {
        return Err(StorageError::InvalidLease("owner is empty"));
    }
    if owner.len() > MAX_KEY_LEN {
        return Err(StorageError::InvalidLease(
            "owner is longer than 2048 bytes",
        ));
    }
    if owner.contains('\0') {
        return Err(StorageError::InvalidLease("owner contains a NUL character"));
    }
    Ok(())
}

/// Validates a whole batch, then keeps only the last row per id (in first-seen order), so one
/// statement never has to write the same id twice (PostgreSQL refuses that in an upsert).
pub(crate) fn last_writes(rows: &[LeaseRow]) -> Result<Vec<&LeaseRow>, StorageError> {
    rows.iter().try_for_each(validate_row)?;
    let mut slot_of: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut kept: Vec<&LeaseRow> = Vec::with_capacity(rows.len());
    for row in rows {
        match slot_of.get(row.id.as_str()) {
            Some(&slot) => kept[slot] = row,
            None => {
                slot_of.insert(&row.id, kept.len());
                kept.push(row);
            }
        }
    }
    Ok(kept)
}

/// The inclusive lower bound and exclusive upper bound (`None`: unbounded) of a prefix page.
/// U+0001 appended to `after` is the smallest id greater than it, since ids never hold NUL.
pub(crate) fn page_bounds(
    prefix: &str,
    after: Option<&str>,
) -> Result<(String, Option<String>), StorageError> {
    keyspace::validate_list_prefix(prefix)?;
    let lower = match after {
        Some(after) => {
            keyspace::validate_list_prefix(after)?;
            let next = format!("{after}\u{1}");
            if next.as_str() > prefix {
                next
            } else {
                prefix.to_owned()
            }
        }
        None => prefix.to_owned(),
    };
    Ok((lower, keyspace::upper_bound(prefix)))
}

/// A SQL `count(*)` as the API's `u64` (a count is never negative).
pub(crate) fn sql_count(total: i64) -> u64 {
    u64::try_from(total).unwrap_or(0)
}

/// `(pending, active, irrevocable)` from `SELECT state, count(*) … GROUP BY state` rows; a state
/// with no leases has no row.
pub(crate) fn state_counts(groups: Vec<(i16, i64)>) -> Result<(u64, u64, u64), StorageError> {
    let mut per_state = [0; 3];
    for (state, total) in groups {
        per_state[LeaseState::from_code(state)?.slot()] = sql_count(total);
    }
    let [pending, active, irrevocable] = per_state;
    Ok((pending, active, irrevocable))
}

/// A `usize` limit as SQL's `LIMIT` parameter.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, due_at: i64) -> LeaseRow {
        LeaseRow {
            id: id.into(),
            due_at,
            state: LeaseState::Active,
            owner: None,
            value: vec![0xAB; 4],
        }
    }

    #[test]
    fn debug_shows_length_not_the_record() {
        let shown = format!("{:?}", row("db/creds/a/1", 5));
        assert!(shown.contains("value_len: 4"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn state_codes_round_trip_and_unknown_codes_are_corrupt() {
        for state in [
            LeaseState::Pending,
            LeaseState::Active,
            LeaseState::Irrevocable,
        ] {
            assert_eq!(LeaseState::from_code(state.code()).unwrap(), state);
        }
        assert!(matches!(
            LeaseState::from_code(3),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn last_write_per_id_wins_in_first_seen_order() {
        let rows = [row("a", 1), row("b", 2), row("a", 3)];
        let kept: Vec<(&str, i64)> = last_writes(&rows)
            .unwrap()
            .into_iter()
            .map(|r| (r.id.as_str(), r.due_at))
            .collect();
        assert_eq!(kept, [("a", 3), ("b", 2)]);
        let mut bad = row("c", 1);
        bad.owner = Some(String::new());
        assert!(matches!(
            last_writes(&[row("a", 1), bad]),
            Err(StorageError::InvalidLease(_))
        ));
    }

    #[test]
    fn page_bounds_start_after_the_cursor_but_never_before_the_prefix() {
        assert_eq!(
            page_bounds("a/", None).unwrap(),
            ("a/".into(), Some("a0".into()))
        );
        assert_eq!(
            page_bounds("a/", Some("a/x")).unwrap(),
            ("a/x\u{1}".into(), Some("a0".into()))
        );
        // A cursor before the prefix range does not widen it.
        assert_eq!(page_bounds("b/", Some("a")).unwrap().0, "b/");
        assert_eq!(page_bounds("", Some("z")).unwrap(), ("z\u{1}".into(), None));
        assert!(page_bounds("a\0", None).is_err());
        assert!(page_bounds("a", Some("a\0")).is_err());
    }
}
