-- The change feed's triggers (PostgreSQL): the same tables and columns as SQLite's (a test
-- compares them). Each also notifies `keyport_changes` at commit: one notification per
-- transaction, since the payload is empty and PostgreSQL folds equal notifications.
-- Columns that only counting touches (uses left, use count, last use) are not watched.
--
-- Sequence numbers are taken before commit, so two transactions may commit out of order;
-- readers treat a missing number as in flight for a few seconds before skipping it.

-- TG_ARGV: the change's kind, and the column holding the id it names.
CREATE FUNCTION keyport_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entity TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        EXECUTE format('SELECT ($1).%I::text', TG_ARGV[1]) INTO entity USING OLD;
    ELSE
        EXECUTE format('SELECT ($1).%I::text', TG_ARGV[1]) INTO entity USING NEW;
    END IF;
    INSERT INTO changes (kind, entity_id, at)
        VALUES (TG_ARGV[0], entity, (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
    PERFORM pg_notify('keyport_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_feed AFTER INSERT OR DELETE OR UPDATE OF application_id, environment, digest, scopes, api_ids, expires_at, max_uses, ip_allowlist, revoked_at, rate_limit, rate_period
    ON api_keys FOR EACH ROW EXECUTE FUNCTION keyport_record_change('key', 'id');
CREATE TRIGGER applications_feed AFTER INSERT OR DELETE OR UPDATE OF name, owner_kind, owner_id, deleted_at
    ON applications FOR EACH ROW EXECUTE FUNCTION keyport_record_change('application', 'id');
CREATE TRIGGER users_feed AFTER INSERT OR DELETE OR UPDATE OF email, status
    ON users FOR EACH ROW EXECUTE FUNCTION keyport_record_change('user', 'id');
-- A subscription change re-reads all of its application's subscriptions.
CREATE TRIGGER subscriptions_feed AFTER INSERT OR DELETE OR UPDATE OF application_id, api_id, plan_id, state, updated_at
    ON subscriptions FOR EACH ROW EXECUTE FUNCTION keyport_record_change('subscriptions', 'application_id');
CREATE TRIGGER plans_feed AFTER INSERT OR DELETE OR UPDATE OF api_id, scopes, rate_limit, rate_period, burst, quota, quota_period
    ON plans FOR EACH ROW EXECUTE FUNCTION keyport_record_change('plan', 'id');
CREATE TRIGGER apis_feed AFTER INSERT OR DELETE OR UPDATE OF slug, lifecycle
    ON apis FOR EACH ROW EXECUTE FUNCTION keyport_record_change('api', 'id');
CREATE TRIGGER service_tokens_feed AFTER INSERT OR DELETE OR UPDATE OF token_digest, revoked_at
    ON service_tokens FOR EACH ROW EXECUTE FUNCTION keyport_record_change('service_token', 'id');
