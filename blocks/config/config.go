// Package config is the config block: Micro's config.Config service (Get,
// Set, Delete, the legacy Read) plus Watch, on a JSON tree per namespace
// addressed by dotted paths.
//
// Config holds the block's rules: paths and JSON, objects set as many leaves
// (merging), secrets sealed with AES-256-GCM and read back as "[secret]"
// unless asked for, and the watch hub that pushes every change, in order, to
// every watcher of an overlapping path. Persistence sits below it behind
// Backend; the one backend today keeps one row per leaf in the micro SQLite
// file.
package config

import (
	"context"
	"crypto/rand"
	"embed"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/config"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the config block's schema; pass it to schema.Open.
var Migrations = schema.Embedded("config", migrationFiles)

// Limits on what may be set; a request over them gets a 400.
const (
	// MaxPathSize is the longest path, in bytes.
	MaxPathSize = 1024
	// MaxValueSize is the largest value set at once, in bytes.
	MaxValueSize = 8 << 20
	// MaxLeaves is the most leaves one value may expand to.
	MaxLeaves = 10000
	// WatchBuffer is how many changes a watcher may fall behind before its
	// stream is ended (with a 429) rather than slow every writer down.
	WatchBuffer = 1024
)

// Secret is what a secret reads back as unless the caller asks for it.
const Secret = `"[secret]"`

// Config is the config block. Its exported handler methods implement
// pb.ConfigServer; Register serves them.
type Config struct {
	pb.UnimplementedConfigServer

	backend Backend
	now     func() time.Time
	log     *slog.Logger
	authz   auth.Authorizer
	key     []byte // from WithSecretKey; nil means the stored key
	retain  int    // changes logged per namespace, see WithChangeRetention

	// js and replicas are WithJetStream's: the config lives in a
	// JetStream bucket shared by the nodes of a cluster.
	js       jetstream.JetStream
	replicas int
	// follow is set when the backend reports every change, from any node
	// (the JetStream one): watchers are fed from that report, not by the
	// write that made the change, and seen is the newest revision of each
	// namespace it has reported.
	follow bool
	seen   map[string]uint64

	sealMu sync.Mutex
	sealer *sealer

	// writeMu orders writes with watcher registration and notification:
	// each write commits and is delivered to watchers before the next one
	// starts, so watchers see changes in commit order and a new watcher's
	// first value is exactly the state before the next change it gets.
	writeMu  sync.Mutex
	watchers map[*watcher]struct{}
	closed   bool
}

// Option configures New.
type Option func(*Config)

// WithClock replaces time.Now for the update times of leaves.
func WithClock(now func() time.Time) Option {
	return func(c *Config) { c.now = now }
}

// WithLogger sets where internal errors are logged; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *Config) { c.log = l }
}

// WithSecretKey seals secrets with key (32 bytes, see ParseSecretKey)
// instead of the key the block keeps in the database.
func WithSecretKey(key []byte) Option {
	return func(c *Config) { c.key = key }
}

// WithChangeRetention sets how many of each namespace's newest changes are
// kept for watches to resume from (DefaultChangeRetention); at least 1.
func WithChangeRetention(n int) Option {
	return func(c *Config) { c.retain = max(n, 1) }
}

// New returns the config block on db, which must have been opened with
// Migrations. Every call needs authz's admin access to its namespace (as
// Micro's config did); nil refuses every call.
func New(db *schema.DB, authz auth.Authorizer, opts ...Option) *Config {
	c := &Config{authz: authz, now: time.Now, log: slog.Default(), retain: DefaultChangeRetention, watchers: map[*watcher]struct{}{}}
	for _, o := range opts {
		o(c)
	}
	if c.js != nil {
		b := newJetStream(c.js, c.replicas, c.now, c.retain, c.log)
		b.changed, b.broken = c.changed, c.endWatches
		c.backend, c.follow, c.seen = b, true, map[string]uint64{}
		return c
	}
	c.backend = newSQLite(db, c.now, c.retain)
	return c
}

// Register serves the config.Config service on gs.
func (c *Config) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterConfigServer(gs, c)
}

// Start binds the JetStream bucket when the block has one (so a cluster
// that cannot be reached is reported at start); on SQLite it does nothing.
func (c *Config) Start(ctx context.Context) error {
	if b, ok := c.backend.(*jsBackend); ok {
		_, err := b.bucket(ctx)
		return err
	}
	return nil
}

// EndStreams ends every watch stream (with a 503) and refuses new ones. Get,
// Set and Delete keep working until the database closes, so end the streams
// before the gRPC server drains, and close the database after.
func (c *Config) EndStreams() {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.closed = true
	c.endLocked(errShuttingDown)
}

// endWatches ends every watch stream with err (they can no longer promise
// every change); new ones may start.
func (c *Config) endWatches(err error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.endLocked(err)
}

func (c *Config) endLocked(err error) {
	for w := range c.watchers {
		w.end(err)
		delete(c.watchers, w)
	}
}

// Close ends the streams (EndStreams) and stops following a JetStream
// bucket; the block holds nothing else.
func (c *Config) Close() error {
	c.EndStreams()
	if b, ok := c.backend.(*jsBackend); ok {
		return b.Close()
	}
	return nil
}

// secrets returns the sealer, loading or creating the stored key on first
// use unless WithSecretKey gave one.
func (c *Config) secrets(ctx context.Context) (*sealer, error) {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	if c.sealer != nil {
		return c.sealer, nil
	}
	key := c.key
	if key == nil {
		var err error
		key, err = c.backend.SecretKey(ctx, func() ([]byte, error) {
			k := make([]byte, SecretKeySize)
			_, err := rand.Read(k)
			return k, err
		})
		if err != nil {
			return nil, err
		}
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	c.sealer = s
	return s, nil
}
