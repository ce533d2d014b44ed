-- What the gateway needs of an API beyond its upstream: a sandbox upstream that `test` keys
-- reach (NULL: none, so test keys are refused), the query parameter a key may also come in
-- (NULL: headers only), and the operations of its OpenAPI document with the scopes each
-- needs (JSON, derived when the document is stored; NULL: no document or not derived yet).
ALTER TABLE apis ADD COLUMN sandbox_url TEXT;
ALTER TABLE apis ADD COLUMN key_param TEXT;
ALTER TABLE apis ADD COLUMN routes TEXT;
DROP TRIGGER apis_feed_update;
CREATE TRIGGER apis_feed_update AFTER UPDATE OF slug, lifecycle, upstream_url, sandbox_url, key_param, routes ON apis BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('api', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
