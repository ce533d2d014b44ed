-- Identities at OpenID Connect providers, keyed by (issuer, subject): the only stable pair
-- an ID token guarantees (an email address can change or be reassigned). A user may have
-- several; they go with the user.

CREATE TABLE identities (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    UNIQUE (issuer, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);
