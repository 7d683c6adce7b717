// Package events is the event stream block: Micro's events.Stream (Publish,
// Consume) and events.Store (Read) services, durable and ordered, plus a
// small Topics service to list topics and set their retention.
//
// Every event gets a per-topic sequence number, is stored before Publish
// answers (concurrent publishes share one transaction: group commit) and is
// kept for the topic's retention (DefaultRetention unless set). Consumers
// start at the oldest retained event, a time, a sequence number or only new
// events. A consumer group shares a topic: each event goes to one member,
// every group sees every event. A named group's position and its unacked
// deliveries are saved, so it resumes after a restart; unacked events are
// sent again after ack_wait, and after retry_limit redeliveries moved to the
// dead-letter topic "<topic>.dead".
//
// Events holds those rules; persistence sits below it behind Backend, with
// the SQLite file as the one backend today.
package events

import (
	"context"
	"embed"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/events"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the events block's schema; pass it to schema.Open.
var Migrations = schema.Embedded("events", migrationFiles)

// Defaults for the options.
const (
	// DefaultRetention is how long events are kept unless the server or
	// the topic says otherwise: 24 hours, as Micro kept them.
	DefaultRetention = 24 * time.Hour
	// DefaultSweepInterval is how often expired events are deleted. Reads
	// hide them at once regardless.
	DefaultSweepInterval = time.Minute
	// DefaultMaxInflight is how many unacked events one consumer may hold
	// before it is sent more.
	DefaultMaxInflight = 1000
)

// Events is the events block; Register serves its services.
type Events struct {
	backend     Backend
	now         func() time.Time
	retention   time.Duration
	interval    time.Duration
	maxInflight int
	log         *slog.Logger
	authz       auth.Authorizer

	hub *hub

	// js and replicas are WithJetStream's: events live in a JetStream
	// stream shared by the nodes of a cluster. shared is then set: other
	// nodes deliver the same durable groups, so a group's loop reloads
	// its state each step and saves with a version check.
	js       jetstream.JetStream
	replicas int
	shared   bool
	node     string // this node's name among the cluster's, when shared

	retMu      sync.Mutex
	retentions map[topicKey]time.Duration // topics' own settings, cached

	// ctx ends when Close begins: streams end, members leave, and the
	// groups save what they left behind. stopped ends closeGrace later for
	// group loops still waiting on a stuck stream.
	ctx     context.Context
	cancel  context.CancelFunc
	stopped context.Context
	stop    context.CancelFunc
	started sync.Once
	wg      sync.WaitGroup
}

// closeGrace is how long Close lets groups save what leaving members left.
const closeGrace = 5 * time.Second

// Option configures New.
type Option func(*Events)

// WithClock replaces time.Now as the clock of publish times, retention and
// redelivery, so tests can move time instead of sleeping.
func WithClock(now func() time.Time) Option {
	return func(e *Events) { e.now = now }
}

// WithRetention sets how long events are kept when their topic has no
// retention of its own; zero or less means DefaultRetention.
func WithRetention(d time.Duration) Option {
	return func(e *Events) { e.retention = d }
}

// WithSweepInterval sets how often expired events are deleted.
func WithSweepInterval(d time.Duration) Option {
	return func(e *Events) { e.interval = d }
}

// WithMaxInflight sets how many unacked events one consumer may hold.
func WithMaxInflight(n int) Option {
	return func(e *Events) { e.maxInflight = n }
}

// WithLogger sets where internal errors are logged; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(e *Events) { e.log = l }
}

// New returns the events block on db, which must have been opened with
// Migrations. Every call needs authz's admin access to its namespace (as
// Micro's events did); nil refuses every call. Call Start to run the
// sweeper.
func New(db *schema.DB, authz auth.Authorizer, opts ...Option) *Events {
	e := &Events{
		authz: authz, now: time.Now, retention: DefaultRetention, interval: DefaultSweepInterval,
		maxInflight: DefaultMaxInflight, log: slog.Default(), retentions: map[topicKey]time.Duration{},
	}
	for _, o := range opts {
		o(e)
	}
	if e.retention <= 0 {
		e.retention = DefaultRetention
	}
	if e.interval <= 0 {
		e.interval = DefaultSweepInterval
	}
	if e.maxInflight <= 0 {
		e.maxInflight = DefaultMaxInflight
	}
	if e.js != nil {
		b := newJetStream(e.js, e.replicas, e.now, e.log)
		e.backend, e.shared, e.node = b, true, e.js.Conn().ConnectedServerName()
		if e.node == "" {
			e.node = uuid.NewString()
		}
		b.wake = func(k topicKey) { e.hub.notify(k) }
	} else {
		e.backend = newSQLite(db, e.now)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.stopped, e.stop = context.WithCancel(context.Background())
	e.hub = newHub(e)
	return e
}

// Register serves events.Stream, events.Store and events.Topics on gs.
func (e *Events) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterStreamServer(gs, streamServer{e: e})
	pb.RegisterStoreServer(gs, storeServer{e: e})
	pb.RegisterTopicsServer(gs, topicsServer{e: e})
}

// Start runs the sweeper until Close; on JetStream it first binds the
// stream, so a cluster that cannot be reached is reported at start.
// Calling it again does nothing.
func (e *Events) Start(ctx context.Context) error {
	if b, ok := e.backend.(*jsBackend); ok {
		if _, err := b.bind(ctx); err != nil {
			return err
		}
	}
	e.started.Do(func() { e.wg.Go(e.sweepLoop) })
	return nil
}

// EndStreams ends every Consume stream (with a 503) and refuses new ones,
// without waiting. Call it before the gRPC server drains, so that long-lived
// streams do not hold up a graceful stop. Publish and Read keep working
// until the database closes.
func (e *Events) EndStreams() {
	// Under the hub's lock, so no group starts (wg.Add) once Close may be
	// waiting.
	e.hub.mu.Lock()
	e.cancel()
	e.hub.mu.Unlock()
}

// Close ends the streams (see EndStreams), waits for the consumer groups to save
// what their members left behind (events buffered for a stream go back to
// the group), and stops the sweeper. Call it once the gRPC server has
// stopped, and close the database after. The error is always nil: Close is
// an io.Closer.
func (e *Events) Close() error {
	e.EndStreams()
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeGrace):
		// A stream still stuck sending keeps its member in the group;
		// the group's unsaved leftovers are lost, as a crash loses them.
		e.log.Warn("events: consumer groups still had members at shutdown; stopping them")
		e.stop()
		<-done
	}
	e.stop()
	if b, ok := e.backend.(*jsBackend); ok {
		return b.Close()
	}
	return nil
}

// Sweep deletes expired events now; the sweeper calls it every interval.
// It frees space, so it runs on a full disk too (schema.Freeing).
func (e *Events) Sweep(ctx context.Context) (int64, error) {
	return e.backend.Sweep(schema.Freeing(ctx), e.now(), e.retention)
}

func (e *Events) sweepLoop() {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
			n, err := e.Sweep(e.ctx)
			switch {
			case err != nil && e.ctx.Err() == nil:
				e.log.Warn("events: sweeping expired events failed", "err", err, "deleted", n)
			case n > 0:
				e.log.Debug("events: swept expired events", "deleted", n)
			}
		}
	}
}

// topicKey names a topic of a namespace.
type topicKey struct{ ns, topic string }

// retentionOf returns how long a topic keeps events.
func (e *Events) retentionOf(ctx context.Context, k topicKey) (time.Duration, error) {
	e.retMu.Lock()
	d, ok := e.retentions[k]
	e.retMu.Unlock()
	if !ok {
		var err error
		if d, err = e.backend.Retention(ctx, k.ns, k.topic); err != nil {
			return 0, err
		}
		e.retMu.Lock()
		e.retentions[k] = d
		e.retMu.Unlock()
	}
	if d <= 0 {
		return e.retention, nil
	}
	return d, nil
}

// notBefore is the publish time of the oldest event a topic still shows.
func (e *Events) notBefore(ctx context.Context, k topicKey) (time.Time, error) {
	d, err := e.retentionOf(ctx, k)
	if err != nil {
		return time.Time{}, err
	}
	return e.now().Add(-d), nil
}
