-- TOTP second factor: the secret (AES-256-GCM, bound to the user id), the last accepted
-- time step (replay protection) and single-use recovery codes (keyed SHA-256).

CREATE TABLE mfa_totp (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc TEXT NOT NULL,
    enabled_at BIGINT,
    last_step  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_digest TEXT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX mfa_recovery_user_idx ON mfa_recovery_codes (user_id);
