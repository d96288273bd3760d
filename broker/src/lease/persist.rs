//! How the [`ExpirationManager`] keeps leases: each one a row of the lease index whose plain
//! columns (id, due time, state, owner) can be queried and whose value is the whole record
//! sealed by the barrier, written through the manager's cache of sealed rows.

use lessor_storage::LeaseRow;
use rand::Rng;

use super::RECORD_DOMAIN;
use super::manager::{ExpirationManager, LeaseError, storage};
use super::record::LeaseRecord;

impl ExpirationManager {
    /// Writes a lease row. Callers hold the lease's lock or own a fresh id.
    pub(super) async fn store(&self, record: &LeaseRecord) -> Result<(), LeaseError> {
        let plaintext = zeroize::Zeroizing::new(serde_json::to_vec(record).map_err(storage)?);
        let value = self
            .barrier
            .seal_record(RECORD_DOMAIN, &record.id, &plaintext)
            .map_err(storage)?;
        let row = LeaseRow {
            id: record.id.clone(),
            due_at: record.due_at,
            state: record.state,
            owner: record.owner.clone(),
            value,
        };
        match self.index.put_lease(&row).await {
            Ok(()) => {
                self.rows.replace(&row.id, row.value);
                Ok(())
            }
            Err(error) => {
                // It may have committed all the same: the next read goes to storage.
                self.rows.invalidate(&row.id);
                Err(storage(error))
            }
        }
    }

    /// Deletes a lease row, and forgets it. Callers hold the lease's lock (but for
    /// [`Self::forget_token`]: a stale cached token lease is harmless, its expiry reads
    /// storage).
    pub(super) async fn delete(&self, id: &str) -> Result<bool, LeaseError> {
        let deleted = self.index.delete_lease(id).await;
        self.rows.invalidate(id);
        deleted.map_err(storage)
    }

    pub(super) fn open(&self, id: &str, sealed: &[u8]) -> Result<LeaseRecord, LeaseError> {
        let plaintext = self
            .barrier
            .open_record(RECORD_DOMAIN, id, sealed)
            .map_err(|error| {
                LeaseError::Storage(format!("lease record {id} does not decrypt: {error}"))
            })?;
        serde_json::from_slice(&plaintext)
            .map_err(|error| LeaseError::Storage(format!("lease record {id} is corrupt: {error}")))
    }

    /// Loads and authenticates a lease, from the cache when it holds it.
    pub(super) async fn load(&self, id: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        match self.rows.get(id) {
            Some(sealed) => self.open(id, &sealed).map(Some),
            None => self.load_stored(id).await,
        }
    }

    /// Loads and authenticates a lease from storage. The sealed record is the truth: a plain
    /// column that disagrees with it was altered underneath the barrier, and is restored from
    /// the record. The expiry path reads this way, since it acts on what the index says is due.
    pub(super) async fn load_stored(&self, id: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        let seen = self.rows.generation(id);
        let Some(row) = self.index.get_lease(id).await.map_err(storage)? else {
            return Ok(None);
        };
        let record = self.open(id, &row.value)?;
        if record.id != row.id
            || record.due_at != row.due_at
            || record.state != row.state
            || record.owner != row.owner
        {
            tracing::warn!(lease_id = %id, "lease index row disagrees with its sealed record; restoring it");
            self.store(&record).await?;
        } else {
            self.rows.fill(id, row.value, seen);
        }
        Ok(Some(record))
    }

    fn random_suffix() -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        (0..24)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    }

    pub(super) fn lease_id(mount: &str, request_path: &str) -> String {
        let path = request_path.trim_matches('/');
        if path.is_empty() {
            format!("{mount}{}", Self::random_suffix())
        } else {
            format!("{mount}{path}/{}", Self::random_suffix())
        }
    }
}
