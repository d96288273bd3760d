-- The lease index (architecture invariant 6): the expiration manager reads only what is due
-- soon, so the due time is a plain indexed column rather than a field inside the sealed record.
-- `id`, `due_at`, `state` and `owner` are plain (`owner` is a token hash, already an HMAC);
-- `value` is the lease record sealed by the barrier.
-- COLLATE "C" on `id`, as on lessor_entries.key: prefix range scans select exactly the ids
-- that start with the prefix and ORDER BY id is bytewise, whatever the database's locale.
-- `state` codes: 0 pending, 1 active, 2 irrevocable (lessor_storage::LeaseState).
CREATE TABLE lessor_leases (
    id     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    due_at BIGINT NOT NULL,
    state  SMALLINT NOT NULL CHECK (state IN (0, 1, 2)),
    owner  TEXT COLLATE "C" NULL,
    value  BYTEA NOT NULL
);

-- Sealed records are AES-GCM ciphertext and do not compress.
ALTER TABLE lessor_leases ALTER COLUMN value SET STORAGE EXTERNAL;

-- leases_due_before: `due_at < $1 ORDER BY due_at, id LIMIT $2` is an index scan that stops
-- after LIMIT entries, with no sort (checked with EXPLAIN in the crate's tests).
CREATE INDEX lessor_leases_due ON lessor_leases (due_at, id);

-- Revoking a token finds its leases here, already in id order. `owner = $1` implies
-- `owner IS NOT NULL`, so the planner uses this partial index and unowned leases cost nothing.
CREATE INDEX lessor_leases_owner ON lessor_leases (owner, id) WHERE owner IS NOT NULL;

-- count_leases by prefix and state (sys/leases/count?type=irrevocable, metrics) is a range
-- scan of this index; lease_state_counts can group over it with an index-only scan.
CREATE INDEX lessor_leases_state ON lessor_leases (state, id);
