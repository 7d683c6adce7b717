-- Each span insert paid for what no query used. AUTOINCREMENT kept a
-- sqlite_sequence row, updated on every insert, so that ids are never
-- reused; a plain INTEGER PRIMARY KEY (max(id)+1) still numbers new spans
-- above every kept one, which is all the cap and List's "newest" need.
-- The (ns, service, id) index was used by no query (List filters by
-- service while it walks (ns, trace_id)). The table is rebuilt without
-- both; (ns, trace_id) serves Read and List, (ns, id) the cap.
CREATE TABLE trace_spans_lean (
    id         INTEGER PRIMARY KEY,
    ns         TEXT    NOT NULL,
    trace_id   TEXT    NOT NULL,
    span_id    TEXT    NOT NULL,
    parent_id  TEXT    NOT NULL,
    service    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    error      TEXT    NOT NULL,
    attributes TEXT    NOT NULL
) STRICT;

INSERT INTO trace_spans_lean
    (id, ns, trace_id, span_id, parent_id, service, name, kind, start_at, end_at, failed, error, attributes)
    SELECT id, ns, trace_id, span_id, parent_id, service, name, kind, start_at, end_at, failed, error, attributes
    FROM trace_spans ORDER BY id;

DROP TABLE trace_spans;
ALTER TABLE trace_spans_lean RENAME TO trace_spans;

CREATE INDEX trace_spans_trace ON trace_spans (ns, trace_id);
CREATE INDEX trace_spans_ns ON trace_spans (ns, id);
