-- Accounts, sessions, settings, invitations, sign-in throttling and the audit log.
-- Times are unix milliseconds (BIGINT) so the same SQL runs on SQLite and PostgreSQL.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'developer')),
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_sign_in_at BIGINT
);
CREATE INDEX users_created_idx ON users (created_at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    data         TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);

CREATE TABLE invitations (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'developer')),
    token_digest     TEXT NOT NULL UNIQUE,
    created_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    accepted_at      BIGINT,
    accepted_user_id TEXT
);

CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_email TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    ip          TEXT,
    user_agent  TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    details     TEXT NOT NULL
);
CREATE INDEX audit_at_idx ON audit_events (at);
CREATE INDEX audit_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_target_idx ON audit_events (target_type, target_id, id);
CREATE INDEX audit_action_idx ON audit_events (action, id);
CREATE INDEX audit_actor_email_idx ON audit_events (actor_email, id);
