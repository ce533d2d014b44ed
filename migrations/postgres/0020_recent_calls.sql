-- An application's latest calls (the usage page's "Latest calls" table) are read from the
-- raw events newest first. Inserts land at the end of each application's range (one hot
-- spot per active application), not at random as a per-key index's would.
CREATE INDEX usage_events_application_idx ON usage_events (application_id, at);
