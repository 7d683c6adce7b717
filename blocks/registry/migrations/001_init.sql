-- registry_services holds one row per (domain, name, version) with its
-- metadata and endpoints (protojson of a registry.Service holding only
-- endpoints, since endpoints describe request/response shapes in depth).
-- A domain is a namespace. A service exists while it has a live node: rows
-- whose nodes have all expired are invisible and swept.
CREATE TABLE registry_services (
    domain     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    metadata   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    endpoints  TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(endpoints)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (domain, name, version)
) STRICT;

-- registry_nodes holds the running instances of a service version. A node
-- is live while expires_at (unix nanoseconds) is after now; every
-- registration (heartbeat) moves it forward by the node's TTL. Reads hide
-- expired nodes at once; the sweeper deletes them and announces the change.
CREATE TABLE registry_nodes (
    domain        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    metadata      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    registered_at INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (domain, name, version, id),
    FOREIGN KEY (domain, name, version) REFERENCES registry_services (domain, name, version) ON DELETE CASCADE
) STRICT;

-- The sweeper's index.
CREATE INDEX registry_nodes_expiry ON registry_nodes (expires_at);
