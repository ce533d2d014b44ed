-- Instances lease blocks of a plan's quota instead of counting each request in the
-- database: `used` counts requests passed or leased, `granted` is the size of the block
-- the last lease took (the lease statement returns it: RETURNING sees only the new row).
ALTER TABLE quota_usage ADD COLUMN granted BIGINT NOT NULL DEFAULT 0;
