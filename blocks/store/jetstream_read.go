package store

import (
	"context"
	stderrors "errors"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/blocks/internal/jsstorage"
)

func (b *jsBackend) Read(ctx context.Context, database, table string, q Query) ([]Record, error) {
	stream, err := b.ready()
	if err != nil {
		return nil, err
	}
	now := b.now()
	if q.Key != "" {
		m, err := stream.GetLastMsgForSubject(ctx, jsstorage.Subject(Bucket, recordKey(database, table, q.Key)))
		if stderrors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil
		}
		if err != nil || jsstorage.Deleted(m.Header) {
			return nil, err
		}
		r, err := decodeRecord(q.Key, m.Header, m.Data, m.Sequence)
		if err != nil || (!r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now)) || q.Offset > 0 {
			return nil, err
		}
		return []Record{r}, nil
	}
	var out []Record
	err = b.scan(ctx, stream, database, table, false, func(_, _ string, r Record) error {
		if matches(r.Key, q) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y Record) int { return order(x.Key, y.Key, q.Desc) })
	return page(out, q), nil
}

func (b *jsBackend) List(ctx context.Context, database, table string, q Query) ([]string, error) {
	stream, err := b.ready()
	if err != nil {
		return nil, err
	}
	if q.Key != "" {
		recs, err := b.Read(ctx, database, table, q)
		if err != nil || len(recs) == 0 {
			return nil, err
		}
		return []string{recs[0].Key}, nil
	}
	var out []string
	err = b.scan(ctx, stream, database, table, true, func(_, _ string, r Record) error {
		if matches(r.Key, q) {
			out = append(out, r.Key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y string) int { return order(x, y, q.Desc) })
	return page(out, q), nil
}

func matches(key string, q Query) bool {
	return strings.HasPrefix(key, q.Prefix) && strings.HasSuffix(key, q.Suffix)
}

func order(x, y string, desc bool) int {
	if desc {
		return strings.Compare(y, x)
	}
	return strings.Compare(x, y)
}

func page[T any](items []T, q Query) []T {
	if q.Offset >= uint64(len(items)) {
		return nil
	}
	items = items[q.Offset:]
	if q.Limit > 0 && q.Limit < uint64(len(items)) {
		items = items[:q.Limit]
	}
	return items
}

// scan calls fn with every live record of database.table ("" for every
// database or table), with its database and table, in no order. The
// stream does not keep keys in order, so a read sorts what it selects, and
// reading a prefix scans the table.
func (b *jsBackend) scan(ctx context.Context, stream jetstream.Stream, database, table string, headersOnly bool, fn func(db, table string, r Record) error) error {
	filter := []string{"*", "*", "*"}
	if database != "" {
		filter[0] = jsstorage.Token(database)
	}
	if table != "" {
		filter[1] = jsstorage.Token(table)
	}
	now := b.now()
	return jsstorage.Scan(ctx, stream, jsstorage.Subject(Bucket, jsstorage.Key(filter...)), headersOnly, func(m jetstream.Msg) error {
		h := m.Headers()
		if jsstorage.Deleted(h) {
			return nil
		}
		db, tbl, key, err := splitKey(strings.TrimPrefix(m.Subject(), jsstorage.Subject(Bucket, "")))
		if err != nil {
			return err
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		r, err := decodeRecord(key, h, m.Data(), meta.Sequence.Stream)
		if err != nil {
			return err
		}
		if r.ExpiresAt.IsZero() || r.ExpiresAt.After(now) {
			return fn(db, tbl, r)
		}
		return nil
	})
}

func (b *jsBackend) Databases(ctx context.Context) ([]string, error) {
	return b.names(ctx, "", func(db, _ string) string { return db })
}

func (b *jsBackend) Tables(ctx context.Context, database string) ([]string, error) {
	return b.names(ctx, database, func(_, table string) string { return table })
}

// names returns, sorted, the databases (or the tables of database) with a
// live record: a scan of their records' headers.
func (b *jsBackend) names(ctx context.Context, database string, name func(db, table string) string) ([]string, error) {
	stream, err := b.ready()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	err = b.scan(ctx, stream, database, "", true, func(db, table string, _ Record) error {
		seen[name(db, table)] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
