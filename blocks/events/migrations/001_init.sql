-- events_topics has one row per topic of a namespace, created by its first
-- event (or first consumer group) and never deleted, so sequence numbers
-- never restart: last_seq is the sequence of the newest event ever
-- published. last_published (unix ns) is the publish time of that event;
-- publish times never go backwards within a topic, so "the first event at or
-- after time T" is a binary search over sequence numbers.
-- retention (ns) overrides the server's default when not NULL.
CREATE TABLE events_topics (
    id             INTEGER PRIMARY KEY,
    namespace      TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    last_published INTEGER NOT NULL DEFAULT 0,
    retention      INTEGER CHECK (retention > 0),
    UNIQUE (namespace, name)
) STRICT;

-- events_events holds each retained event. Sequence numbers of a topic are
-- contiguous from the oldest retained to last_seq: only the sweeper deletes,
-- and only the oldest. timestamp is the event's own time (unix seconds, as
-- the publisher gave it or now); published_at (unix ns) is when the server
-- stored it, which retention and offset starts go by.
-- payload is the last column: a large one spills into overflow pages.
CREATE TABLE events_events (
    topic_id     INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    id           TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    timestamp    INTEGER NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '{}',
    payload      BLOB    NOT NULL,
    PRIMARY KEY (topic_id, seq)
) STRICT;

-- events_groups holds the position of each durable (named) consumer group:
-- every event before next_seq was delivered and is acked, or is in
-- events_pending. updated_at (unix ns) is the last change.
CREATE TABLE events_groups (
    id         INTEGER PRIMARY KEY,
    topic_id   INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    next_seq   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (topic_id, name)
) STRICT;

-- events_pending holds the events a group was sent and has not acked:
-- how many times they were sent, and when (unix ns) they are due again.
CREATE TABLE events_pending (
    group_id   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    deliveries INTEGER NOT NULL,
    due        INTEGER NOT NULL,
    PRIMARY KEY (group_id, seq)
) STRICT, WITHOUT ROWID;
