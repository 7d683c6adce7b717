-- Each service's logs are capped by size and age as well as by lines. bytes
-- is a line's share of the cap: its message and instance, plus a fixed 64
-- for the rest of the row. The index covers what the cap reads (id, ts,
-- bytes), so enforcing it never reads the messages.
ALTER TABLE runtime_logs ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;

UPDATE runtime_logs SET bytes = length(CAST(message AS BLOB)) + length(CAST(instance AS BLOB)) + 64;

DROP INDEX runtime_logs_service;

CREATE INDEX runtime_logs_service ON runtime_logs (namespace, name, version, id, ts, bytes);
