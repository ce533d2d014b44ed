-- Plan quotas per subscription and UTC day or month, counted like maximum uses: one atomic
-- upsert per request of a subscription with a quota, refused once `used` reaches the
-- quota, so no number of instances passes more than the quota. One row per period
-- (`day` or `month`, and when it started).
CREATE TABLE quota_usage (
    subscription_id TEXT NOT NULL,
    period          TEXT NOT NULL,
    period_start    BIGINT NOT NULL,
    used            BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, period, period_start)
);
