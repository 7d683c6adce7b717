package trace

import (
	"context"
	"database/sql"
	"encoding/json"

	pb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

// sqliteBackend keeps spans in the micro SQLite file: reads on the read
// pool, every change through the writer.
type sqliteBackend struct {
	db  *schema.DB
	max int64
}

func (b *sqliteBackend) Record(ctx context.Context, ns string, spans []*pb.Span) error {
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO trace_spans
			(ns, trace_id, span_id, parent_id, service, name, kind, start_at, end_at, failed, error, attributes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, s := range spans {
			attrs, err := json.Marshal(s.GetAttributes())
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, ns, s.GetTraceId(), s.GetSpanId(), s.GetParentId(), s.GetService(), s.GetName(),
				s.GetKind(), s.GetStart(), s.GetEnd(), s.GetFailed(), s.GetError(), string(attrs)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM trace_spans WHERE id <= (SELECT max(id) FROM trace_spans) - ?`, b.max)
		return err
	})
}

func (b *sqliteBackend) Read(ctx context.Context, ns, traceID string) ([]*pb.Span, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT trace_id, span_id, parent_id, service, name, kind, start_at, end_at, failed, error, attributes
		FROM trace_spans WHERE ns = ? AND trace_id = ? ORDER BY start_at, id`, ns, traceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*pb.Span
	for rows.Next() {
		var (
			s     pb.Span
			attrs string
		)
		if err := rows.Scan(&s.TraceId, &s.SpanId, &s.ParentId, &s.Service, &s.Name, &s.Kind, &s.Start, &s.End, &s.Failed, &s.Error, &attrs); err != nil {
			return nil, err
		}
		if attrs != "null" && attrs != "{}" {
			if err := json.Unmarshal([]byte(attrs), &s.Attributes); err != nil {
				return nil, err
			}
		}
		out = append(out, &s)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) List(ctx context.Context, ns, service string, limit int) ([]*pb.Summary, error) {
	// The newest traces are those whose latest span row is newest.
	rows, err := b.db.Read().QueryContext(ctx, `WITH recent AS (
			SELECT trace_id, max(id) AS last FROM trace_spans
			WHERE ns = ?1 AND (?2 = '' OR service = ?2)
			GROUP BY trace_id ORDER BY last DESC LIMIT ?3)
		SELECT r.trace_id, min(s.start_at), max(s.end_at), count(*), max(s.failed),
			(SELECT service || char(0) || name FROM trace_spans f WHERE f.ns = ?1 AND f.trace_id = r.trace_id ORDER BY f.parent_id = '' DESC, f.start_at LIMIT 1)
		FROM recent r JOIN trace_spans s ON s.ns = ?1 AND s.trace_id = r.trace_id
		GROUP BY r.trace_id ORDER BY r.last DESC`, ns, service, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*pb.Summary
	for rows.Next() {
		var (
			s        pb.Summary
			end      int64
			failed   bool
			rootName string
		)
		if err := rows.Scan(&s.TraceId, &s.Start, &end, &s.Spans, &failed, &rootName); err != nil {
			return nil, err
		}
		s.DurationNs, s.Failed = end-s.Start, failed
		for i := range len(rootName) {
			if rootName[i] == 0 {
				s.Service, s.Name = rootName[:i], rootName[i+1:]
				break
			}
		}
		out = append(out, &s)
	}
	return out, rows.Err()
}
