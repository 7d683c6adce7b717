-- runtime_services is the desired state of every service the runtime runs,
-- one row per (namespace, name, version), and its last observed status.
--
-- kind says where the source comes from: 'local' (a directory on this
-- machine, source is its absolute path), 'upload' (a tarball in
-- runtime_sources, source is source://name:version) or 'git' (source is
-- the repository URL, ref the branch, tag or commit).
--
-- status is the Micro status number (1 pending ... 7 error); metadata holds
-- Micro's service metadata (owner, group, source, started, build, retries,
-- error, ...) as a JSON object of strings. Times are unix nanoseconds.
CREATE TABLE runtime_services (
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('local', 'upload', 'git')),
    source     TEXT    NOT NULL,
    ref        TEXT    NOT NULL DEFAULT '',
    entrypoint TEXT    NOT NULL DEFAULT '',
    -- ["K=V", ...]
    env        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(env)),
    watch      INTEGER NOT NULL DEFAULT 0,
    status     INTEGER NOT NULL DEFAULT 0,
    metadata   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name, version)
) STRICT;

-- runtime_sources keeps source archives (tar.gz): uploads from remote CLIs,
-- and snapshots of local directories, so a service can be rebuilt after a
-- restart even when its directory is gone.
CREATE TABLE runtime_sources (
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (namespace, name, version)
) STRICT;

-- runtime_logs holds the output of services (stdout, stderr), their builds
-- and the runtime's own notes about them. Each service keeps only its
-- newest lines: the cap is enforced on every insert.
CREATE TABLE runtime_logs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    -- stdout, stderr, build or runtime
    stream    TEXT    NOT NULL,
    instance  TEXT    NOT NULL DEFAULT '',
    message   TEXT    NOT NULL
) STRICT;

CREATE INDEX runtime_logs_service ON runtime_logs (namespace, name, version, id);

-- runtime_processes records every process group the runtime has started
-- and not yet seen end, so a server that was killed (kill -9, power cut)
-- can stop the leftovers of its previous run before starting anew.
CREATE TABLE runtime_processes (
    pgid       INTEGER NOT NULL PRIMARY KEY,
    instance   TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    started_at INTEGER NOT NULL
) STRICT;
