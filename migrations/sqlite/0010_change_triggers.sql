-- The change feed's triggers (SQLite). Columns that only counting touches (uses left, use
-- count, last use) are not watched: they change on every request. A rolled-back write
-- takes no number (AUTOINCREMENT is part of the transaction), so SQLite's feed has no gaps.
-- The time is computed with julianday(), which every SQLite has (not unixepoch('subsec'),
-- SQLite 3.42+): a write made with an older sqlite3 shell must not fail.

CREATE TRIGGER api_keys_feed_insert AFTER INSERT ON api_keys BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('key', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER api_keys_feed_update AFTER UPDATE OF application_id, environment, digest, scopes, api_ids, expires_at, max_uses, ip_allowlist, revoked_at, rate_limit, rate_period ON api_keys BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('key', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER api_keys_feed_delete AFTER DELETE ON api_keys BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('key', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER applications_feed_insert AFTER INSERT ON applications BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('application', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER applications_feed_update AFTER UPDATE OF name, owner_kind, owner_id, deleted_at ON applications BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('application', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER applications_feed_delete AFTER DELETE ON applications BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('application', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER users_feed_insert AFTER INSERT ON users BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER users_feed_update AFTER UPDATE OF email, status ON users BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER users_feed_delete AFTER DELETE ON users BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('user', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- A subscription change re-reads all of its application's subscriptions.
CREATE TRIGGER subscriptions_feed_insert AFTER INSERT ON subscriptions BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('subscriptions', NEW.application_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER subscriptions_feed_update AFTER UPDATE OF application_id, api_id, plan_id, state, updated_at ON subscriptions BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('subscriptions', NEW.application_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER subscriptions_feed_delete AFTER DELETE ON subscriptions BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('subscriptions', OLD.application_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER plans_feed_insert AFTER INSERT ON plans BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('plan', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER plans_feed_update AFTER UPDATE OF api_id, scopes, rate_limit, rate_period, burst, quota, quota_period ON plans BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('plan', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER plans_feed_delete AFTER DELETE ON plans BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('plan', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER apis_feed_insert AFTER INSERT ON apis BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('api', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER apis_feed_update AFTER UPDATE OF slug, lifecycle ON apis BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('api', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER apis_feed_delete AFTER DELETE ON apis BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('api', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER service_tokens_feed_insert AFTER INSERT ON service_tokens BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('service_token', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER service_tokens_feed_update AFTER UPDATE OF token_digest, revoked_at ON service_tokens BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('service_token', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER service_tokens_feed_delete AFTER DELETE ON service_tokens BEGIN
    INSERT INTO changes (kind, entity_id, at) VALUES ('service_token', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
