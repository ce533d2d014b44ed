-- Service tokens: how gateways authenticate to the verify API. Stored as SHA-256 digests;
-- the token is shown once when created (portal or `keyport service-token create`).

CREATE TABLE service_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
