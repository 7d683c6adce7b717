-- The blob store: larger opaque values, streamed in chunks, scoped like
-- store_records by (database, table, key).
--
-- A blob's bytes are one upload: rows of store_blob_chunks numbered from 0.
-- An upload is written chunk by chunk in transactions of its own, so no
-- transaction and no buffer holds a whole blob; it becomes the blob's bytes
-- in one transaction at the end (store_blobs.upload points at it), so a
-- reader sees the old bytes or the new ones, never a mix.
--
-- store_blob_uploads.state: writing while chunks arrive; live once a blob
-- points at it; dead when it was given up, or its blob was replaced or
-- deleted. A dead upload's chunks are deleted in small transactions, then
-- its row. At start, every upload still writing (cut short by a crash) is
-- dead.
-- AUTOINCREMENT: an upload id is never reused, so a reader holding an old
-- one finds its chunks gone rather than another blob's.
CREATE TABLE store_blob_uploads (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    state      TEXT    NOT NULL CHECK (state IN ('writing', 'live', 'dead')),
    started_at INTEGER NOT NULL
) STRICT;

CREATE INDEX store_blob_uploads_dead ON store_blob_uploads (id) WHERE state = 'dead';

CREATE TABLE store_blob_chunks (
    upload INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (upload, seq)
) STRICT;

-- Times are unix nanoseconds; size is in bytes.
CREATE TABLE store_blobs (
    db           TEXT    NOT NULL,
    tbl          TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    upload       INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    chunks       INTEGER NOT NULL,
    content_type TEXT    NOT NULL DEFAULT '',
    public       INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (db, tbl, key)
) STRICT;
