-- Usage, written in batches by each instance's usage writer (never per request).
--
-- Per-minute rollups: requests by application, API, key and decision code. The key starts
-- with the application, so the charts' main question (one application over 30 days) is one
-- index range; by API and by key have their own indexes. Unknown keys and APIs are ''.
CREATE TABLE usage_minutes (
    application_id TEXT NOT NULL,
    minute         BIGINT NOT NULL,
    api_id         TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    code           TEXT NOT NULL,
    requests       BIGINT NOT NULL,
    PRIMARY KEY (application_id, minute, api_id, key_id, code)
);
CREATE INDEX usage_minutes_api_idx ON usage_minutes (api_id, minute);
CREATE INDEX usage_minutes_key_idx ON usage_minutes (key_id, minute);
CREATE INDEX usage_minutes_minute_idx ON usage_minutes (minute);

-- Raw events of Keyport's own keys, kept for KEYPORT_USAGE_RETENTION_DAYS. The upstream
-- columns stay empty until the proxy fills them.
CREATE TABLE usage_events (
    id          BIGSERIAL PRIMARY KEY,
    at              BIGINT NOT NULL,
    key_id          TEXT NOT NULL,
    application_id  TEXT NOT NULL,
    api_id          TEXT,
    code            TEXT NOT NULL,
    client_ip       TEXT,
    upstream_status BIGINT,
    latency_ms      BIGINT,
    bytes           BIGINT
);
CREATE INDEX usage_events_at_idx ON usage_events (at);
CREATE INDEX usage_events_key_idx ON usage_events (key_id, at);

-- A rotated key's uses since its rotation are counted from the events above (across
-- instances, whatever the batching); the snapshot of the use count is no longer needed.
ALTER TABLE api_keys DROP COLUMN uses_at_rotation;
