-- The change feed: every write that can change a verification decision appends what
-- changed (a kind and an id) in the same transaction, through triggers (0010, written in
-- each dialect), so no write path can forget it. Each Keyport instance keeps an in-memory
-- view of keys, applications, owners, subscriptions, plans, APIs and service tokens, and
-- applies the feed in sequence order (re-reading the named row).

CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    -- Wall-clock unix milliseconds at the write (not the app's clock): propagation is
    -- measured from it.
    at        BIGINT NOT NULL
);
CREATE INDEX changes_entity_idx ON changes (kind, entity_id, seq);

-- Each running instance: how far it has applied the feed (heartbeat every second).
CREATE TABLE gateway_instances (
    id          TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    applied_seq BIGINT NOT NULL
);

-- When an instance applied each run of changes [first_seq, last_seq] (wall-clock ms).
CREATE TABLE change_acks (
    instance_id TEXT NOT NULL,
    first_seq   BIGINT NOT NULL,
    last_seq    BIGINT NOT NULL,
    applied_at  BIGINT NOT NULL
);
CREATE INDEX change_acks_seq_idx ON change_acks (last_seq, first_seq);
