-- The gateway routes each API's requests to its upstream URL from the view: a change of
-- the URL is a change the feed carries, like the slug and the lifecycle.
DROP TRIGGER apis_feed ON apis;
CREATE TRIGGER apis_feed AFTER INSERT OR DELETE OR UPDATE OF slug, lifecycle, upstream_url
    ON apis FOR EACH ROW EXECUTE FUNCTION keyport_record_change('api', 'id');
