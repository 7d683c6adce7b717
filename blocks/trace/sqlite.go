package trace

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"

	pb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

// sqliteBackend keeps spans in the micro SQLite file: reads on the read
// pool, every change through the writer.
type sqliteBackend struct {
	db    *schema.DB
	max   int64 // spans kept in all
	maxNS int64 // spans kept per namespace

	// counts is how many spans each namespace has, so the caps cost no
	// count(*) per Record: loaded once, changed after each commit, and
	// loaded again after a write that failed (its changes are unknown).
	// Only Record writes the table, one at a time (mu).
	mu     sync.Mutex
	counts map[string]int64
}

// rowsPerInsert is how many spans one INSERT carries: a statement per
// span cost as much again as the rows themselves (binding, stepping and
// resetting the statement through database/sql and the driver).
// rowsPerInsert × spanColumns stays far under SQLite's 32766 parameters.
const (
	rowsPerInsert = 32
	spanColumns   = 12
)

// insertSpans is the INSERT of n spans. OR FAIL, not the default ABORT:
// a multi-row INSERT that may abort part-way makes SQLite keep a statement
// journal (every page the statement touches copied out first, past 64 KiB
// into a temporary file), a fifth of Record's CPU. Nothing here can fail a
// row (no unique index; every value is bound non-NULL), and were one to
// fail, Record's error rolls back its whole write anyway.
func insertSpans(n int) string {
	row := "(?" + strings.Repeat(", ?", spanColumns-1) + ")"
	return `INSERT OR FAIL INTO trace_spans
		(ns, trace_id, span_id, parent_id, service, name, kind, start_at, end_at, failed, error, attributes)
		VALUES ` + row + strings.Repeat(", "+row, n-1)
}

// Record inserts the spans, then applies the caps: a namespace keeps at
// most maxNS spans, its oldest going first; past max in all, the
// namespaces holding the most lose their oldest, down to a fair share. So
// one namespace's spans never push out another's that has fewer.
func (b *sqliteBackend) Record(ctx context.Context, ns string, spans []*pb.Span) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.counts == nil {
		counts, err := b.loadCounts(ctx)
		if err != nil {
			return err
		}
		b.counts = counts
	}
	// The spans go in rowsPerInsert at a time, the rest in one shorter
	// insert, both prepared once on the writer.
	full, err := b.db.Prepare(ctx, insertSpans(rowsPerInsert))
	if err != nil {
		return err
	}
	var rest *sql.Stmt
	if r := len(spans) % rowsPerInsert; r > 0 {
		if rest, err = b.db.Prepare(ctx, insertSpans(r)); err != nil {
			return err
		}
	}
	args := make([]any, 0, spanColumns*min(len(spans), rowsPerInsert))
	var counts map[string]int64
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		counts = maps.Clone(b.counts) // a retried write starts over
		for chunk := range slices.Chunk(spans, rowsPerInsert) {
			args = args[:0]
			for _, s := range chunk {
				attrs, err := json.Marshal(s.GetAttributes())
				if err != nil {
					return err
				}
				args = append(args, ns, s.GetTraceId(), s.GetSpanId(), s.GetParentId(), s.GetService(), s.GetName(),
					s.GetKind(), s.GetStart(), s.GetEnd(), s.GetFailed(), s.GetError(), string(attrs))
			}
			stmt := full
			if len(chunk) < rowsPerInsert {
				stmt = rest
			}
			if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		counts[ns] += int64(len(spans))
		if over := counts[ns] - b.maxNS; over > 0 {
			if err := dropOldest(ctx, tx, counts, ns, over); err != nil {
				return err
			}
		}
		for name, keep := range fairShare(counts, b.max) {
			if err := dropOldest(ctx, tx, counts, name, counts[name]-keep); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.counts = nil
		return err
	}
	b.counts = counts
	return nil
}

// fairShare returns, when counts add up to more than limit, how many
// spans the namespaces that must give way keep: those over the highest
// level L with the sum of min(count, L) within limit are cut to L (the few
// spans of room left go, one each, to the first of them by name).
// Namespaces under L keep all theirs.
func fairShare(counts map[string]int64, limit int64) map[string]int64 {
	var total, most int64
	for _, n := range counts {
		total += n
		most = max(most, n)
	}
	if total <= limit {
		return nil
	}
	kept := func(level int64) int64 {
		var sum int64
		for _, n := range counts {
			sum += min(n, level)
		}
		return sum
	}
	lo, hi := int64(0), most // kept(lo) <= limit < kept(hi)
	for hi-lo > 1 {
		if mid := lo + (hi-lo)/2; kept(mid) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	var over []string
	for name, n := range counts {
		if n > lo {
			over = append(over, name)
		}
	}
	slices.Sort(over)
	room := limit - kept(lo)
	keep := make(map[string]int64, len(over))
	for _, name := range over {
		keep[name] = lo
		if room > 0 {
			keep[name], room = lo+1, room-1
		}
	}
	return keep
}

// dropOldest deletes ns's n oldest spans and counts them out.
func dropOldest(ctx context.Context, tx *sql.Tx, counts map[string]int64, ns string, n int64) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM trace_spans WHERE id IN
		(SELECT id FROM trace_spans WHERE ns = ? ORDER BY id LIMIT ?)`, ns, n)
	if err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	if counts[ns] -= n; counts[ns] <= 0 {
		delete(counts, ns)
	}
	return nil
}

func (b *sqliteBackend) loadCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT ns, count(*) FROM trace_spans GROUP BY ns`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var ns string
		var n int64
		if err := rows.Scan(&ns, &n); err != nil {
			return nil, err
		}
		counts[ns] = n
	}
	return counts, rows.Err()
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
