// Package trace is the span block: the finished spans of traced calls, per
// namespace, kept in the micro SQLite file under caps per namespace and
// in all (the oldest spans are dropped, see sqliteBackend.Record), so that `micro trace` can show a call's path through the
// gateway, the proxy and the services as a waterfall.
package trace

import (
	"context"
	"embed"
	"log/slog"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the block's schema; pass it to schema.Open.
var Migrations = schema.Embedded("trace", migrationFiles)

// Limits and defaults.
const (
	// DefaultMaxSpans is how many spans the file keeps in all unless
	// told; past it the namespace holding the most loses its oldest.
	DefaultMaxSpans = 100000
	// MaxRecord is the most spans one Record may carry.
	MaxRecord = 1000
	// maxField bounds a span's ids, names and error; maxAttrs its
	// attributes.
	maxField = 1024
	maxAttrs = 32
	// defaultList and maxList bound List.
	defaultList = 20
	maxList     = 1000
)

// Trace is the span block. Its exported handler methods implement
// pb.TraceServer; Register serves them.
type Trace struct {
	pb.UnimplementedTraceServer

	backend Backend
	authz   auth.Authorizer
	log     *slog.Logger
}

// Option configures New.
type Option func(*Trace, *sqliteBackend)

// WithLogger sets where the block's problems are logged.
func WithLogger(l *slog.Logger) Option { return func(t *Trace, _ *sqliteBackend) { t.log = l } }

// WithMaxSpans sets how many spans the file keeps in all; n <= 0 is the
// default.
func WithMaxSpans(n int) Option {
	return func(_ *Trace, b *sqliteBackend) {
		if n > 0 {
			b.max = int64(n)
		}
	}
}

// WithMaxSpansPerNamespace sets how many spans one namespace keeps; n <= 0,
// or more than the total, means the total (WithMaxSpans): a namespace
// alone may fill the file, and gives way to others as they record.
func WithMaxSpansPerNamespace(n int) Option {
	return func(_ *Trace, b *sqliteBackend) {
		if n > 0 {
			b.maxNS = int64(n)
		}
	}
}

// New returns the block on db, which must have been opened with
// Migrations; authz decides who may record and read a namespace's spans
// (nil refuses every call).
func New(db *schema.DB, authz auth.Authorizer, opts ...Option) *Trace {
	b := &sqliteBackend{db: db, max: DefaultMaxSpans}
	t := &Trace{backend: b, authz: authz, log: slog.Default()}
	for _, o := range opts {
		o(t, b)
	}
	if b.maxNS <= 0 || b.maxNS > b.max {
		b.maxNS = b.max
	}
	return t
}

// Keep records spans the server itself made (gateway, proxy, router) in
// ns, without a caller to check: the node's tracer exports here.
func (t *Trace) Keep(ctx context.Context, ns string, spans []*pb.Span) error {
	if ns == "" {
		ns = "micro"
	}
	return t.backend.Record(ctx, ns, spans)
}

// Register serves the trace.Trace service on gs.
func (t *Trace) Register(gs grpc.ServiceRegistrar) { pb.RegisterTraceServer(gs, t) }

// Start does nothing: the block has no background work.
func (t *Trace) Start(context.Context) error { return nil }

// EndStreams does nothing: the block has no streams.
func (t *Trace) EndStreams() {}

// Close does nothing; the database is the node's.
func (t *Trace) Close() error { return nil }
