-- HA leadership (docs/ARCHITECTURE.md, "HA"). Leadership itself is a session advisory lock held
-- on a dedicated connection; this single row adds the leadership epoch that fences writes, and
-- says who leads for standbys (forwarding, sys/leader).
-- `epoch` grows by one on every takeover, in the same transaction as the takeover. Every write
-- of an HA node first reads it `FOR SHARE` and goes on only if it equals the epoch the node
-- acquired, so a takeover (an UPDATE of this row) waits for the old leader's in-flight writes
-- and every later one fails. Epoch 0 means nobody ever led: no node holds epoch 0.
-- node_id/api_addr/cluster_addr/acquired_at describe the current leader; NULL node_id means no
-- node leads now (never did, or the last one released leadership when sealed).
CREATE TABLE lessor_ha_leader (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    epoch        BIGINT NOT NULL CHECK (epoch >= 0),
    node_id      TEXT NULL,
    api_addr     TEXT NULL,
    cluster_addr TEXT NULL,
    acquired_at  TIMESTAMPTZ NULL
);

INSERT INTO lessor_ha_leader (id, epoch) VALUES (1, 0);
