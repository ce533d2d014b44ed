-- How the gateway talks to an API's upstream: 'auto' (HTTP/1.1 to http:// upstreams, HTTP/2
-- when an https:// upstream offers it by ALPN) or 'http2' (HTTP/2 only: h2c with prior
-- knowledge to http:// upstreams). And the host name the API also answers at on the gateway
-- (its whole path goes upstream; NULL: only /<slug>/…), one API per host name.
ALTER TABLE apis ADD COLUMN upstream_protocol TEXT NOT NULL DEFAULT 'auto'
    CHECK (upstream_protocol IN ('auto', 'http2'));
ALTER TABLE apis ADD COLUMN gateway_host TEXT;
CREATE UNIQUE INDEX apis_gateway_host ON apis (gateway_host);
DROP TRIGGER apis_feed_update;
CREATE TRIGGER apis_feed_update AFTER UPDATE OF slug, lifecycle, upstream_url, sandbox_url, key_param, routes, upstream_protocol, gateway_host ON apis BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('api', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
