// Package sync is the lease block: named locks with a time to live and a
// fencing token, per namespace, kept in the micro SQLite file. It is what
// framework/sync's Lock and Leader stand on: a holder renews its lease
// while it works, and a holder that dies loses the lease when its TTL
// passes, judged by the server's clock alone.
package sync

import (
	"context"
	"embed"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/sync"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the block's schema; pass it to schema.Open.
var Migrations = schema.Embedded("sync", migrationFiles)

// Limits and defaults.
const (
	DefaultTTL = 30 * time.Second
	MinTTL     = 100 * time.Millisecond
	MaxTTL     = 24 * time.Hour
	// MaxLeases is the most live leases one namespace may hold, so a
	// caller cannot grow the file without bound.
	MaxLeases = 10000
	// DefaultSweepInterval is how often leases that ran out are deleted.
	DefaultSweepInterval = time.Minute
)

// Sync is the lease block. Its exported handler methods implement
// pb.SyncServer; Register serves them.
type Sync struct {
	pb.UnimplementedSyncServer

	backend  Backend
	authz    auth.Authorizer
	now      func() time.Time
	interval time.Duration
	log      *slog.Logger
	// js, with replicas, selects the JetStream backend.
	js       jetstream.JetStream
	replicas int

	ctx     context.Context
	cancel  context.CancelFunc
	started gosync.Once
	wg      gosync.WaitGroup
}

// Option configures New.
type Option func(*Sync)

// WithClock replaces time.Now as the clock leases run out by.
func WithClock(now func() time.Time) Option { return func(s *Sync) { s.now = now } }

// WithLogger sets where the sweeper's problems are logged.
func WithLogger(l *slog.Logger) Option { return func(s *Sync) { s.log = l } }

// WithSweepInterval sets how often leases that ran out are deleted.
func WithSweepInterval(d time.Duration) Option { return func(s *Sync) { s.interval = d } }

// WithJetStream keeps leases and fencing tokens in a JetStream KV bucket
// (micro_sync) with the given replicas instead of the SQLite file, so a
// lease is held across every node of a cluster and tokens grow across it.
func WithJetStream(js jetstream.JetStream, replicas int) Option {
	return func(s *Sync) { s.js, s.replicas = js, replicas }
}

// New returns the block on db, which must have been opened with
// Migrations; authz decides who may use a namespace's leases (nil refuses
// every call).
func New(db *schema.DB, authz auth.Authorizer, opts ...Option) *Sync {
	s := &Sync{authz: authz, now: time.Now, interval: DefaultSweepInterval, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.interval <= 0 {
		s.interval = DefaultSweepInterval
	}
	if s.js != nil {
		s.backend = newJetStream(s.js, s.replicas, s.now)
	} else {
		s.backend = newSQLite(db, s.now)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Register serves the sync.Sync service on gs.
func (s *Sync) Register(gs grpc.ServiceRegistrar) { pb.RegisterSyncServer(gs, s) }

// Start binds the JetStream bucket, if the block has one, and runs the
// sweeper until Close.
func (s *Sync) Start(ctx context.Context) error {
	var err error
	s.started.Do(func() {
		if b, ok := s.backend.(*jsBackend); ok {
			if err = b.start(ctx); err != nil {
				return
			}
		}
		s.wg.Go(s.sweepLoop)
	})
	return err
}

// EndStreams stops the sweeper; the block has no streams.
func (s *Sync) EndStreams() { s.cancel() }

// Close stops the sweeper and waits for it; the error is always nil.
func (s *Sync) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Sync) sweepLoop() {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if _, err := s.backend.Sweep(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Warn("sync: sweeping leases that ran out failed", "err", err)
			}
		}
	}
}
