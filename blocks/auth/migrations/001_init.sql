-- The auth block's tables. Every row belongs to a namespace (the JWT
-- issuer); nothing of one namespace is visible from another except through
-- the rules of reference §5. Times are unix seconds.

-- auth_accounts: one row per account. secret_hash is an argon2id PHC string
-- (never the secret). uid is random and travels in every token issued for
-- the account: deleting the account, or changing its secret (which draws a
-- new uid), makes every token issued before stop working.
CREATE TABLE auth_accounts (
    namespace   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    uid         TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    scopes      TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(scopes)),
    metadata    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, id),
    UNIQUE (namespace, name)
) STRICT;

-- auth_refresh_tokens: refresh tokens, stored as the SHA-256 of the token
-- (they are 256-bit random, so a fast hash is enough). A token is used once:
-- using it sets used_at and issues the next token of the same family. A used
-- token presented again means it was copied, so the whole family is revoked.
CREATE TABLE auth_refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    namespace  TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    family     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    FOREIGN KEY (namespace, account_id) REFERENCES auth_accounts (namespace, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX auth_refresh_tokens_account ON auth_refresh_tokens (namespace, account_id);
CREATE INDEX auth_refresh_tokens_family ON auth_refresh_tokens (family);
CREATE INDEX auth_refresh_tokens_expiry ON auth_refresh_tokens (expires_at);

-- auth_rules: the access rules of each namespace (reference §5). A namespace
-- without a row in auth_namespaces has never had its rules changed and is
-- governed by the built-in defaults, which are written here the first time
-- an admin changes them.
CREATE TABLE auth_rules (
    namespace         TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    scope             TEXT    NOT NULL,
    resource_type     TEXT    NOT NULL,
    resource_name     TEXT    NOT NULL,
    resource_endpoint TEXT    NOT NULL,
    access            TEXT    NOT NULL CHECK (access IN ('granted', 'denied')),
    priority          INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
) STRICT;

CREATE TABLE auth_namespaces (
    namespace  TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

-- auth_keys: the Ed25519 keys that sign each namespace's tokens (seed of the
-- private key; the public key derives from it). The newest signs; all verify.
CREATE TABLE auth_keys (
    namespace   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
) STRICT;

-- auth_settings: facts about the block itself, e.g. that the first start
-- (signing key, default admin) has been done.
CREATE TABLE auth_settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
