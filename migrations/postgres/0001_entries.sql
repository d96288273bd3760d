-- The broker's whole key/value store. `value` is an opaque blob sealed by the barrier; only
-- `key` is plain text (architecture invariant 2).
-- COLLATE "C" makes comparisons bytewise whatever the database's locale, so the range scans
-- behind list and delete_prefix (key >= prefix AND key < upper bound) select exactly the keys
-- that start with the prefix, and ORDER BY key is the bytewise order the API promises.
CREATE TABLE lessor_entries (
    key   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Sealed values are AES-GCM ciphertext and do not compress; EXTERNAL keeps TOAST from
-- spending CPU trying.
ALTER TABLE lessor_entries ALTER COLUMN value SET STORAGE EXTERNAL;
