-- store_records holds every record of the key-value store: one row per
-- (database, table, key). The database is a namespace; the table a
-- partition inside it (a service's own table by default). Databases and
-- tables exist while they hold a live record; there is no catalogue.
--
-- Times are unix nanoseconds. A record whose expires_at is at or before now
-- is gone: every read compares against now, and the sweeper deletes it later.
--
-- revision is 1 when a record is created (or re-created after it expired or
-- was deleted) and grows by one on every write: the basis for
-- compare-and-set and watch.
--
-- value is the last column on purpose: a large value spills into overflow
-- pages, and the columns before it stay readable without touching them.
CREATE TABLE store_records (
    db         TEXT    NOT NULL,
    tbl        TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    expires_at INTEGER,
    revision   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- {"name": {"type": "string", "value": "..."}}
    metadata   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    value      BLOB    NOT NULL,
    PRIMARY KEY (db, tbl, key)
) STRICT;

-- The sweeper's index; records without an expiry stay out of it.
CREATE INDEX store_records_expiry ON store_records (expires_at) WHERE expires_at IS NOT NULL;
