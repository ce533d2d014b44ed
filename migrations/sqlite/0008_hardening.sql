-- Hardening. Session rows are now keyed by the SHA-256 of the session id (the cookie's
-- secret is no longer stored): sessions from before cannot be found again, so they go
-- (everyone signs in once more).
DELETE FROM sessions;
