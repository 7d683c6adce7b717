-- config_revisions holds each namespace's revision: the number of changes
-- (sets and deletes) ever made to it. It only grows, even when the
-- namespace is emptied, so a watcher's revision never means two states.
CREATE TABLE config_revisions (
    namespace TEXT    NOT NULL PRIMARY KEY,
    revision  INTEGER NOT NULL
) STRICT;

-- config_changes is the change log a watch resumes from: one row per set or
-- delete, written in the same transaction as the change. before and after
-- are the leaves of config_values in the range the change touched (path,
-- everything under it and its ancestors) before and after it, as a JSON
-- array of {"p": path, "v": value, "s": secret, "k": key_id}; a secret
-- leaf's v is the sealed text exactly as config_values holds it, so no
-- secret is ever written here in clear. Replaying the after images forward
-- from the before images rebuilds the value at any path at any retained
-- revision. Only the newest changes of each namespace are kept (see
-- ChangeRetention); at is unix nanoseconds.
CREATE TABLE config_changes (
    namespace TEXT    NOT NULL,
    revision  INTEGER NOT NULL,
    path      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    before    TEXT    NOT NULL,
    after     TEXT    NOT NULL,
    PRIMARY KEY (namespace, revision)
) STRICT;
