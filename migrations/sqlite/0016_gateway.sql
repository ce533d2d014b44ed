-- The gateway routes each API's requests to its upstream URL from the view: a change of
-- the URL is a change the feed carries, like the slug and the lifecycle.
DROP TRIGGER apis_feed_update;
CREATE TRIGGER apis_feed_update AFTER UPDATE OF slug, lifecycle, upstream_url ON apis BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('api', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
