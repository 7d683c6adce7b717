-- sync_leases holds the leases held now: one row per (namespace, name).
-- A lease whose expires_at is at or before now is gone: Acquire replaces
-- it, Renew refuses it, and the sweeper deletes it later. Times are unix
-- nanoseconds.
--
-- id is the holder's secret for Renew and Release; token the fencing
-- token, from sync_tokens.
CREATE TABLE sync_leases (
    ns          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    holder      TEXT    NOT NULL,
    token       INTEGER NOT NULL,
    ttl         INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (ns, name)
) STRICT;

CREATE INDEX sync_leases_expiry ON sync_leases (expires_at);

-- sync_tokens is the last fencing token given in each namespace, so a
-- token is larger than every one before it even after the leases that
-- carried them are gone.
CREATE TABLE sync_tokens (
    ns   TEXT    PRIMARY KEY,
    last INTEGER NOT NULL
) STRICT;
