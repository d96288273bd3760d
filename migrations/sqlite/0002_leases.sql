-- The lease index (architecture invariant 6): the expiration manager reads only what is due
-- soon, so the due time is a plain indexed column rather than a field inside the sealed record.
-- `id`, `due_at`, `state` and `owner` are plain (`owner` is a token hash, already an HMAC);
-- `value` is the lease record sealed by the barrier.
-- `id` uses the BINARY collation (memcmp), like lessor_entries.key: prefix range scans and
-- ORDER BY id are bytewise. A rowid table for the same reason as lessor_entries: a lease record
-- (sealed JSON with the data needed to revoke) is larger than WITHOUT ROWID handles well.
-- `state` codes: 0 pending, 1 active, 2 irrevocable (lessor_storage::LeaseState).
CREATE TABLE lessor_leases (
    id     TEXT NOT NULL PRIMARY KEY,
    due_at BIGINT NOT NULL,
    state  SMALLINT NOT NULL CHECK (state IN (0, 1, 2)),
    owner  TEXT NULL,
    value  BLOB NOT NULL
);

-- leases_due_before: `due_at < ? ORDER BY due_at, id LIMIT ?` walks this index from its start
-- and stops after LIMIT entries, with no sort.
CREATE INDEX lessor_leases_due ON lessor_leases (due_at, id);

-- Revoking a token finds its leases here, already in id order. SQLite uses this partial index
-- for `owner = ?` (the equality implies IS NOT NULL); leases without an owner need no entry.
CREATE INDEX lessor_leases_owner ON lessor_leases (owner, id) WHERE owner IS NOT NULL;

-- count_leases by prefix and state (sys/leases/count?type=irrevocable, metrics) is a range
-- scan of this covering index; lease_state_counts groups over it without reading rows.
CREATE INDEX lessor_leases_state ON lessor_leases (state, id);
