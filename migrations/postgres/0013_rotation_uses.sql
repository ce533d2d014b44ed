-- A rotated key's valid uses since its rotation are counted by the usage writer, like its
-- use count: each gateway marks the uses of a key it already knew as rotated, and the
-- writer adds them here. Counting them from the raw events needed an index on
-- (key_id, at), whose random inserts were two thirds of the cost of storing an event.
ALTER TABLE api_keys ADD COLUMN uses_since_rotation BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET uses_since_rotation = (
    SELECT COUNT(*) FROM usage_events e
    WHERE e.key_id = api_keys.id AND e.code = 'VALID' AND e.at >= api_keys.rotated_at
) WHERE rotated_at IS NOT NULL;
DROP INDEX usage_events_key_idx;
