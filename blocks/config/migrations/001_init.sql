-- config_values holds the config tree of every namespace, one row per leaf:
-- a value set at "helloworld.db" as {"host":"h","port":1} is two rows,
-- "helloworld.db.host" and "helloworld.db.port". Reading a path gathers the
-- rows at or under it (a range on the primary key) and rebuilds the JSON.
--
-- value is the leaf's JSON text. A secret leaf holds base64(nonce ||
-- AES-256-GCM ciphertext of the JSON) instead, sealed with the namespace and
-- path as additional data, and key_id names the key that sealed it (the
-- first 4 bytes of its SHA-256, hex) so a wrong key is reported as such.
--
-- The value '{}' is an empty object: a path set to {} with nothing under it.
-- Setting a path below it replaces it.
--
-- updated_at is unix nanoseconds.
CREATE TABLE config_values (
    namespace  TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    secret     INTEGER NOT NULL DEFAULT 0 CHECK (secret IN (0, 1)),
    key_id     TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    value      TEXT    NOT NULL,
    PRIMARY KEY (namespace, path)
) STRICT;

-- config_keys holds the key that seals secrets when the server is not given
-- one (MICRO_CONFIG_SECRET_KEY). It is created on the first secret set.
CREATE TABLE config_keys (
    name       TEXT    NOT NULL PRIMARY KEY,
    key        BLOB    NOT NULL CHECK (length(key) = 32),
    created_at INTEGER NOT NULL
) STRICT;
