-- Hardening. Session rows are now keyed by the SHA-256 of the session id (the cookie's
-- secret is no longer stored): sessions from before cannot be found again, so they go
-- (everyone signs in once more).
DELETE FROM sessions;

-- Open sign-up confirms the address first: the request waits here (the password already
-- hashed) until the emailed link is used. Whether an address has an account is never told.
CREATE TABLE signup_requests (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    token_digest  TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX signup_requests_email_idx ON signup_requests (email);

-- Guessing back-off: how many times the key was locked in its window (each lock doubles).
ALTER TABLE throttle ADD COLUMN locks BIGINT NOT NULL DEFAULT 0;

-- When a subscription was suspended (cleared when the publisher resumes it, kept when its
-- owner cancels it): a new subscription after a suspension or a rejection needs approval.
ALTER TABLE subscriptions ADD COLUMN suspended_at BIGINT;
