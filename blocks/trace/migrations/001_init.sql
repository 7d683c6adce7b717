-- trace_spans holds finished spans, oldest first by id. The block keeps at
-- most its cap of rows, deleting the oldest after each insert, so callers
-- cannot grow the file without bound. Times are unix nanoseconds;
-- attributes is a JSON object of strings.
CREATE TABLE trace_spans (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
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

CREATE INDEX trace_spans_trace ON trace_spans (ns, trace_id);
CREATE INDEX trace_spans_service ON trace_spans (ns, service, id);
