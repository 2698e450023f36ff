-- Vote events as they arrived from Kafka, one row per event id: the
-- primary key makes redelivered events no-ops.
CREATE TABLE vote_events (
    event_id     text        PRIMARY KEY,
    ts           timestamptz NOT NULL,
    ticket_seq   bigint      NOT NULL,
    voter        text,
    payload      jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX vote_events_received_at ON vote_events (received_at);

-- The latest known count per username; a row changes only when an event
-- carries a higher version, so duplicates and reordering converge.  Names
-- sort by bytes ("C"), as Redis and the daemons compare them.
CREATE TABLE votes (
    username    text        COLLATE "C" PRIMARY KEY,
    count       bigint      NOT NULL CHECK (count >= 0),
    version     bigint      NOT NULL CHECK (version >= 0),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
