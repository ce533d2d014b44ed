-- API keys. Only the SHA-256 digest of a key is stored (looked up by it), with what lists
-- show: the display prefix (`kp_live_AbCd`) and the last four characters. A key reaches an
-- API only through one of its application's subscriptions in state 'active'.

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    name           TEXT NOT NULL,
    environment    TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    digest         TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    last4          TEXT NOT NULL,
    -- Space-separated; a subset of the scopes the application's plans allow.
    scopes         TEXT NOT NULL,
    expires_at     BIGINT,
    -- Uses left (NULL: unlimited), counted down atomically by each valid verification.
    max_uses       BIGINT,
    remaining_uses BIGINT,
    -- Space-separated CIDRs the key may be used from (empty: anywhere).
    ip_allowlist   TEXT NOT NULL,
    revoked_at     BIGINT,
    revoked_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    revoke_reason  TEXT,
    created_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT,
    last_used_ip   TEXT
);
CREATE INDEX api_keys_application_idx ON api_keys (application_id, created_at);
