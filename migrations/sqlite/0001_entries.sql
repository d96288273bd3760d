-- The broker's whole key/value store. `value` is an opaque blob sealed by the barrier; only
-- `key` is plain text (architecture invariant 2).
-- `key` uses SQLite's default BINARY collation, which compares with memcmp: range scans and
-- ORDER BY are bytewise, matching the PostgreSQL table's COLLATE "C".
-- A rowid table rather than WITHOUT ROWID: values can be megabytes, and WITHOUT ROWID tables
-- are only efficient for small rows.
CREATE TABLE lessor_entries (
    key   TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
);
