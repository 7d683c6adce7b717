// Package store is the key-value store block: Micro's store.Store service
// (Read, Write, Delete, List, Databases, Tables) on records partitioned into
// databases, one per namespace, and tables inside them; and Micro's
// store.BlobStore service (Blobs: Read, Write, Delete, List streamed in
// chunks) on blobs scoped the same way.
//
// Store holds the block's rules: defaults (the database is the caller's
// namespace, the table "micro"), validation and limits, expiry in seconds.
// Persistence sits below it behind Backend; the one backend today keeps
// records in the micro SQLite file, hides expired records on every read and
// deletes them in the background.
package store

import (
	"context"
	"embed"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the store's schema; pass it to schema.Open.
var Migrations = schema.Embedded("store", migrationFiles)

// DefaultSweepInterval is how often the sweeper looks for expired records
// unless WithSweepInterval says otherwise. Reads hide them at once
// regardless, and the sweeper also wakes at the earliest expiry, so
// watchers hear of an expiry when it happens (expiry.go).
const DefaultSweepInterval = time.Minute

// Store is the store block. Its exported handler methods implement
// pb.StoreServer; Register serves them.
type Store struct {
	pb.UnimplementedStoreServer

	backend     Backend
	blobs       *Blobs
	authz       auth.Authorizer
	hub         *hub
	watchBuffer int
	now         func() time.Time
	interval    time.Duration
	log         *slog.Logger
	maxBlobSize int64
	expiries    expiries
	// js, with replicas, selects the JetStream backend.
	js       jetstream.JetStream
	replicas int

	ctx     context.Context
	cancel  context.CancelFunc
	started sync.Once
	wg      sync.WaitGroup
}

// Option configures New.
type Option func(*Store)

// WithClock replaces time.Now as the clock deciding expiry, so tests can
// move time forward instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithSweepInterval sets how often the sweeper deletes expired records.
func WithSweepInterval(d time.Duration) Option {
	return func(s *Store) { s.interval = d }
}

// WithMaxBlobSize sets the largest blob a Write may store, in bytes;
// zero or less means DefaultMaxBlobSize.
func WithMaxBlobSize(n int64) Option {
	return func(s *Store) { s.maxBlobSize = n }
}

// WithLogger sets where the sweeper and internal errors are logged;
// the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// WithJetStream keeps records in a JetStream KV bucket (micro_store), and
// blobs in a JetStream object store (micro_blobs), with the given replicas
// instead of the SQLite file, so every node of a cluster serves the same
// records and blobs and every node's watchers hear every change.
// Revisions are then the bucket's sequence numbers (see Record).
func WithJetStream(js jetstream.JetStream, replicas int) Option {
	return func(s *Store) { s.js, s.replicas = js, replicas }
}

// New returns the store block on db, which must have been opened with
// Migrations; authz decides who may use a database (nil refuses every
// call). Call Start to run the sweeper.
func New(db *schema.DB, authz auth.Authorizer, opts ...Option) *Store {
	s := &Store{authz: authz, now: time.Now, interval: DefaultSweepInterval, log: slog.Default(), watchBuffer: DefaultWatchBuffer}
	for _, o := range opts {
		o(s)
	}
	if s.interval <= 0 {
		s.interval = DefaultSweepInterval
	}
	if s.watchBuffer <= 0 {
		s.watchBuffer = DefaultWatchBuffer
	}
	if s.maxBlobSize <= 0 {
		s.maxBlobSize = DefaultMaxBlobSize
	}
	s.hub = newHub()
	s.expiries.wake = make(chan struct{}, 1)
	if s.js != nil {
		s.backend = newJetStream(s.js, s.replicas, s.now, s.hub)
	} else {
		s.backend = newSQLite(db, s.now, s.hub)
	}
	var blobs BlobBackend = newBlobSQLite(db, s.now)
	if s.js != nil {
		blobs = newBlobJetStream(s.js, s.replicas)
	}
	s.blobs = &Blobs{s: s, backend: blobs, maxSize: s.maxBlobSize}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Register serves the store.Store and store.BlobStore services on gs.
func (s *Store) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterStoreServer(gs, s)
	pb.RegisterBlobStoreServer(gs, s.blobs)
}

// Blobs is the block's BlobStore service.
func (s *Store) Blobs() *Blobs { return s.blobs }

// Start gives up the blob uploads a crash cut short and runs the sweeper
// until Close. Calling it again does nothing.
func (s *Store) Start(ctx context.Context) error {
	var err error
	s.started.Do(func() {
		if b, ok := s.backend.(*jsBackend); ok {
			var feed func()
			if feed, err = b.start(ctx, s.ctx); err != nil {
				return
			}
			s.wg.Go(feed)
		}
		if b, ok := s.blobs.backend.(*blobJetStream); ok {
			if err = b.start(ctx); err != nil {
				return
			}
		}
		// Before any call is served: no upload can be in progress.
		if err = s.blobs.backend.Abandon(ctx); err != nil {
			return
		}
		s.wg.Go(func() { s.blobs.purge(s.ctx) })
		s.wg.Go(s.sweepLoop)
	})
	return err
}

// EndStreams ends every Watch stream and the sweeper, without waiting, so
// that watches do not hold up the gRPC server's graceful stop. Reads and
// writes keep working until the database closes.
func (s *Store) EndStreams() { s.cancel() }

// Close ends the streams and the sweeper and waits for the sweeper to
// finish; close the Store before the database. The error is always nil:
// Close is an io.Closer.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}
