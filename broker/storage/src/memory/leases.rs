//! The in-memory lease index: rows by id in a `BTreeMap`, plus a `(due_at, id)` set, an
//! `(owner, id)` set and per-state counters that every write keeps in step with the rows.
//! Mutations go through [`Rows::insert`] and [`Rows::remove`] only, so the indexes cannot drift.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::MemoryBackend;
use crate::StorageError;
use crate::keyspace::{self, LIST_BATCH};
use crate::lease::{self, LeaseIndex, LeaseRow, LeaseState};

/// The lease rows and their indexes behind one lock.
#[derive(Default)]
pub(super) struct LeaseTable {
    rows: RwLock<Rows>,
}

#[derive(Default)]
struct Rows {
    by_id: BTreeMap<String, LeaseRow>,
    by_due: BTreeSet<(i64, String)>,
    by_owner: BTreeSet<(String, String)>,
    per_state: [u64; 3],
}

impl Rows {
    fn insert(&mut self, row: LeaseRow) {
        self.remove(&row.id);
        self.by_due.insert((row.due_at, row.id.clone()));
        if let Some(owner) = &row.owner {
            self.by_owner.insert((owner.clone(), row.id.clone()));
        }
        self.per_state[row.state.slot()] += 1;
        self.by_id.insert(row.id.clone(), row);
    }

    fn remove(&mut self, id: &str) -> Option<LeaseRow> {
        let row = self.by_id.remove(id)?;
        self.by_due.remove(&(row.due_at, row.id.clone()));
        if let Some(owner) = &row.owner {
            self.by_owner.remove(&(owner.clone(), row.id.clone()));
        }
        self.per_state[row.state.slot()] -= 1;
        Some(row)
    }

    /// Rows with `lower <= id < upper` (`upper` `None`: unbounded), in id order.
    fn id_range<'a>(
        &'a self,
        lower: &str,
        upper: Option<&str>,
    ) -> impl Iterator<Item = &'a LeaseRow> + 'a {
        // BTreeMap::range panics when the bounds are inverted; from `lower` to just before
        // `lower` is the empty range the caller asked for.
        let upper = match upper {
            Some(upper) if upper <= lower => Bound::Excluded(lower),
            Some(upper) => Bound::Excluded(upper),
            None => Bound::Unbounded,
        };
        self.by_id
            .range::<str, _>((Bound::Included(lower), upper))
            .map(|(_, row)| row)
    }
}

impl LeaseTable {
    // As for the key/value map: every mutation is a sequence of collection calls that cannot
    // panic midway, so a poisoned lock still guards consistent indexes.
    fn read(&self) -> RwLockReadGuard<'_, Rows> {
        self.rows.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Rows> {
        self.rows.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn len(&self) -> usize {
        self.read().by_id.len()
    }
}

#[async_trait::async_trait]
impl LeaseIndex for MemoryBackend {
    async fn put_lease(&self, row: &LeaseRow) -> Result<(), StorageError> {
        lease::validate_row(row)?;
        self.leases.write().insert(row.clone());
        Ok(())
    }

    async fn put_leases(&self, rows: &[LeaseRow]) -> Result<(), StorageError> {
        let rows = lease::last_writes(rows)?;
        // One write guard: readers see the whole batch or none of it.
        let mut table = self.leases.write();
        for row in rows {
            table.insert(row.clone());
        }
        Ok(())
    }

    async fn get_lease(&self, id: &str) -> Result<Option<LeaseRow>, StorageError> {
        keyspace::validate_key(id)?;
        Ok(self.leases.read().by_id.get(id).cloned())
    }

    async fn delete_lease(&self, id: &str) -> Result<bool, StorageError> {
        keyspace::validate_key(id)?;
        Ok(self.leases.write().remove(id).is_some())
    }

    async fn leases_due_before(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<LeaseRow>, StorageError> {
        let table = self.leases.read();
        Ok(table
            .by_due
            .iter()
            .take_while(|(due_at, _)| *due_at < before)
            .take(limit)
            .filter_map(|(_, id)| table.by_id.get(id).cloned())
            .collect())
    }

    async fn lease_ids_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let (lower, upper) = lease::page_bounds(prefix, after)?;
        Ok(self
            .leases
            .read()
            .id_range(&lower, upper.as_deref())
            .take(limit)
            .map(|row| row.id.clone())
            .collect())
    }

    async fn list_leases(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let upper = keyspace::upper_bound(prefix);
        keyspace::list_children(prefix, LIST_BATCH, |lower| {
            let ids: Vec<String> = self
                .leases
                .read()
                .id_range(&lower, upper.as_deref())
                .take(LIST_BATCH)
                .map(|row| row.id.clone())
                .collect();
            async move { Ok(ids) }
        })
        .await
    }

    async fn lease_ids_by_owner(&self, owner: &str) -> Result<Vec<String>, StorageError> {
        lease::validate_owner(owner)?;
        let start = (owner.to_owned(), String::new());
        Ok(self
            .leases
            .read()
            .by_owner
            .range((Bound::Included(start), Bound::Unbounded))
            .take_while(|(row_owner, _)| row_owner == owner)
            .map(|(_, id)| id.clone())
            .collect())
    }

    async fn lease_ids_in_state(
        &self,
        state: LeaseState,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let start = match after {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Unbounded,
        };
        Ok(self
            .leases
            .read()
            .by_id
            .range((start, Bound::Unbounded))
            .filter(|(_, row)| row.state == state)
            .take(limit)
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn count_leases(
        &self,
        prefix: &str,
        state: Option<LeaseState>,
    ) -> Result<u64, StorageError> {
        keyspace::validate_list_prefix(prefix)?;
        let upper = keyspace::upper_bound(prefix);
        let count = self
            .leases
            .read()
            .id_range(prefix, upper.as_deref())
            .filter(|row| state.is_none_or(|state| row.state == state))
            .count();
        Ok(u64::try_from(count).unwrap_or(u64::MAX))
    }

    async fn lease_state_counts(&self) -> Result<(u64, u64, u64), StorageError> {
        let [pending, active, irrevocable] = self.leases.read().per_state;
        Ok((pending, active, irrevocable))
    }
}
