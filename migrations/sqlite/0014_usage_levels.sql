-- Usage in three levels: minutes (written by the usage writer every ten seconds), hours
-- and days (rolled up from the minutes by a background job), each with its own retention.
--
-- The minutes are keyed time first and have no other index: the writer's rows all land at
-- the end of one B-tree (the index on key and on API cost a random insert each), and what
-- reads minutes reads a recent time range (the last hour's charts, the rollup job). On
-- SQLite a table without rowid stores the rows in that key itself; on PostgreSQL every
-- key and time index carries the counts (INCLUDE), so charts read the index alone instead
-- of a heap page per row (a 30-day chart: 100 ms → 10 ms).
CREATE TABLE usage_minutes_by_time (
    minute         BIGINT NOT NULL,
    application_id TEXT NOT NULL,
    api_id         TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    code           TEXT NOT NULL,
    requests       BIGINT NOT NULL,
    PRIMARY KEY (minute, application_id, api_id, key_id, code)
) WITHOUT ROWID;
INSERT INTO usage_minutes_by_time (minute, application_id, api_id, key_id, code, requests)
    SELECT minute, application_id, api_id, key_id, code, requests FROM usage_minutes;
DROP TABLE usage_minutes;
ALTER TABLE usage_minutes_by_time RENAME TO usage_minutes;

-- Per-hour and per-day rollups, summed from the minutes by the rollup job (one instance at
-- a time: it advances `usage_rollup.done_until` with a compare-and-set in the same
-- transaction). Every minute before `done_until` is in every level; charts add the minutes
-- at or after it, read in the same statement, so they are exact and current. Keyed
-- application first: an application's range is one index range, and so is a key's (its
-- application is always known). By time (lists over the platform, retention) through an
-- index, which only the job writes.
CREATE TABLE usage_hours (
    application_id TEXT NOT NULL,
    hour           BIGINT NOT NULL,
    api_id         TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    code           TEXT NOT NULL,
    requests       BIGINT NOT NULL,
    PRIMARY KEY (application_id, hour, api_id, key_id, code)
) WITHOUT ROWID;
CREATE INDEX usage_hours_hour_idx ON usage_hours (hour, requests);

-- UTC days: long ranges, billing periods and platform-wide top lists.
CREATE TABLE usage_days (
    application_id TEXT NOT NULL,
    day            BIGINT NOT NULL,
    api_id         TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    code           TEXT NOT NULL,
    requests       BIGINT NOT NULL,
    PRIMARY KEY (application_id, day, api_id, key_id, code)
) WITHOUT ROWID;
CREATE INDEX usage_days_day_idx ON usage_days (day, requests);

-- Per API and hour, without applications and keys: the platform's and an API's charts
-- over weeks read a few thousand rows whatever the number of keys.
CREATE TABLE usage_api_hours (
    api_id   TEXT NOT NULL,
    hour     BIGINT NOT NULL,
    code     TEXT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (api_id, hour, code)
) WITHOUT ROWID;

-- The rollup job's progress: minutes before `done_until` are in every level.
CREATE TABLE usage_rollup (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    done_until BIGINT NOT NULL
);
INSERT INTO usage_rollup (id, done_until) SELECT 1, COALESCE(MIN(minute), 0) FROM usage_minutes;

-- The IANA time zone a user's usage charts are cut in (`Europe/Berlin`); NULL: the
-- browser's, else UTC.
ALTER TABLE users ADD COLUMN time_zone TEXT;
