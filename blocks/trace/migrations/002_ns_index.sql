-- The cap is per namespace: a namespace's oldest spans are found by
-- (ns, id).
CREATE INDEX trace_spans_ns ON trace_spans (ns, id);
