-- Where each key is called from: requests per key, UTC day and client address, with the
-- address's network (/24 for IPv4, /48 for IPv6) and when it was first and last seen that
-- day. The usage writer sums them in memory and writes them every minute. The key page's
-- top client addresses read a key's days (the primary key); the new-network alert reads the
-- rows first seen in its window (by day) and looks for an earlier row of the same key and
-- network. Kept as long as the hourly rollups.
CREATE TABLE usage_clients (
    key_id     TEXT NOT NULL,
    day        BIGINT NOT NULL,
    client_ip  TEXT NOT NULL,
    network    TEXT NOT NULL,
    requests   BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    PRIMARY KEY (key_id, day, client_ip)
);
CREATE INDEX usage_clients_day_idx ON usage_clients (day, first_seen);
CREATE INDEX usage_clients_network_idx ON usage_clients (key_id, network, first_seen);

-- Alerts raised from usage, one row per rule, subject (a subscription or a key) and
-- occurrence (a quota period, an hour, a day, a network): the primary key is what keeps an
-- alert from being raised twice, by one instance or several. The owner is notified once,
-- when the row is inserted.
CREATE TABLE usage_alerts (
    rule       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (rule, subject, occurrence)
);
