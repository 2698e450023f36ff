-- The event log takes one row per vote and is read rarely, so its inserts
-- are made cheaper: the payload stays the JSON text the persister wrote
-- (json is only checked, jsonb is parsed into a binary form on every
-- insert), and received_at, which only grows, gets a BRIN index of a few
-- pages instead of a B-tree entry per row.  Measured on 50,000 rows: about
-- 10 of 22 us per row saved.
ALTER TABLE vote_events ALTER COLUMN payload TYPE json USING payload::json;

DROP INDEX vote_events_received_at;
CREATE INDEX vote_events_received_at ON vote_events USING brin (received_at);
