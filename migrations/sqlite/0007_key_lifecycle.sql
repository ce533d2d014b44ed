-- Key lifecycle: rotation chains with a grace period, API subsets, per-key rate limits,
-- use refills, reminders and leak flags. A rotated key keeps working until its (shortened)
-- expiry; `use_count - uses_at_rotation` is its traffic since it was replaced.

-- Space-separated API ids the key may call (empty: every API of its application).
ALTER TABLE api_keys ADD COLUMN api_ids TEXT NOT NULL DEFAULT '';
-- Optional limit below the plan's: this many requests per second or minute.
ALTER TABLE api_keys ADD COLUMN rate_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN rate_period TEXT CHECK (rate_period IN ('second', 'minute'));
-- Uses are set back to max_uses each day or month (by the lifecycle job).
ALTER TABLE api_keys ADD COLUMN refill_period TEXT CHECK (refill_period IN ('day', 'month'));
ALTER TABLE api_keys ADD COLUMN refilled_at BIGINT;
-- Every valid verification, for "requests since rotation".
ALTER TABLE api_keys ADD COLUMN use_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN replaces TEXT REFERENCES api_keys (id);
ALTER TABLE api_keys ADD COLUMN replaced_by TEXT REFERENCES api_keys (id);
ALTER TABLE api_keys ADD COLUMN rotated_at BIGINT;
ALTER TABLE api_keys ADD COLUMN uses_at_rotation BIGINT;
-- When the owner was last reminded of the key's coming expiry.
ALTER TABLE api_keys ADD COLUMN expiry_reminded_at BIGINT;
-- A leak report matched the key (when leaks are flagged, not revoked).
ALTER TABLE api_keys ADD COLUMN flagged_at BIGINT;
ALTER TABLE api_keys ADD COLUMN flag_reason TEXT;

CREATE INDEX api_keys_expires_idx ON api_keys (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_refill_idx ON api_keys (refill_period) WHERE refill_period IS NOT NULL;
