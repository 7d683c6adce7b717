// Package registry is the service discovery block: Micro's registry.Registry
// service (Register, Deregister, GetService, ListServices, Watch) over
// services partitioned into domains, one per namespace.
//
// Services register nodes with a TTL and re-register as a heartbeat; a node
// whose TTL runs out is hidden at once and swept in the background, and a
// service version without live nodes is gone. Every change is announced to
// watchers: the Watch stream, and in-process subscribers such as the
// router's cache. The block services hosted in-process
// (store, registry, ...) are listed alongside registered services in every
// domain, and their names are reserved.
package registry

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/registry"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the registry's schema; pass it to schema.Open.
var Migrations = schema.Embedded("registry", migrationFiles)

// Defaults.
const (
	// DefaultTTL is a node's time to live when its registration names none.
	DefaultTTL = 90 * time.Second
	// MaxTTL is the longest TTL a registration may ask for.
	MaxTTL = 366 * 24 * time.Hour
	// DefaultSweepInterval is how often expired nodes are deleted and
	// announced. Reads hide them at once regardless.
	DefaultSweepInterval = time.Second
)

// Registry is the registry block; Register serves its gRPC API and Lookup,
// List and Subscribe are its in-process API (for the network block).
type Registry struct {
	backend  Backend
	now      func() time.Time
	interval time.Duration
	log      *slog.Logger
	local    func() []*pb.Service
	authz    auth.Authorizer
	// js, with replicas, selects the JetStream backend; node names this
	// cluster node to it.
	js       jetstream.JetStream
	replicas int
	node     string
	stamp    map[string]string // owner.go

	subMu  sync.RWMutex
	subs   map[int]func(*pb.Result)
	nextID int

	ctx     context.Context
	cancel  context.CancelFunc
	started sync.Once
	wg      sync.WaitGroup
}

// Option configures New.
type Option func(*Registry)

// WithClock replaces time.Now as the clock deciding expiry.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// WithSweepInterval sets how often expired nodes are deleted and announced.
func WithSweepInterval(d time.Duration) Option { return func(r *Registry) { r.interval = d } }

// WithLogger sets where the sweeper's problems are logged.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// WithLocal lists the services hosted in-process (the blocks), which every
// domain shows and no one may register.
func WithLocal(fn func() []*pb.Service) Option { return func(r *Registry) { r.local = fn } }

// WithJetStream keeps registrations in a JetStream KV bucket
// (micro_registry) with the given replicas instead of the SQLite file, so
// every node of a cluster serves the same registrations and every node's
// watchers hear every change. It needs WithClusterNode.
func WithJetStream(js jetstream.JetStream, replicas int) Option {
	return func(r *Registry) { r.js, r.replicas = js, replicas }
}

// WithClusterNode names the cluster node this registry runs on (unique in
// the cluster, the same across its restarts). Each registration records
// the node it came through, and Start forgets only those of this node:
// another node's services are alive as far as this one knows.
func WithClusterNode(name string) Option { return func(r *Registry) { r.node = name } }

// New returns the registry block on db, which must have been opened with
// Migrations. Every call passes Access with authz; nil refuses every call.
// Call Start to run the sweeper.
func New(db *schema.DB, authz auth.Authorizer, opts ...Option) *Registry {
	r := &Registry{authz: authz, now: time.Now, interval: DefaultSweepInterval, log: slog.Default(), subs: map[int]func(*pb.Result){}}
	for _, o := range opts {
		o(r)
	}
	if r.interval <= 0 {
		r.interval = DefaultSweepInterval
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if r.js != nil {
		r.backend = newJetStream(r.js, r.replicas, r.now, r.node, r.publish)
	} else {
		r.backend = newSQLite(db, r.now)
	}
	return r
}

// Register serves the registry.Registry service on gs.
func (r *Registry) Register(gs grpc.ServiceRegistrar) { pb.RegisterRegistryServer(gs, r.Server()) }

// Start forgets every node registered before it (the file may come from a
// crash, a backup or a copy: only what registers again is running; the
// runtime's services do so by themselves) and runs the sweeper until
// Close. On JetStream it first binds the bucket and loads it, and forgets
// only the nodes registered through this cluster node (WithClusterNode):
// the others' services are still running. Call it before serving. Calling
// it again does nothing.
func (r *Registry) Start(ctx context.Context) error {
	var err error
	r.started.Do(func() {
		if b, ok := r.backend.(*jsBackend); ok {
			var watch func()
			if watch, err = b.start(ctx, r.ctx); err != nil {
				err = fmt.Errorf("registry: %w", err)
				return
			}
			r.wg.Go(watch)
		}
		var n int64
		if n, err = r.backend.Forget(schema.Freeing(ctx)); err != nil {
			err = fmt.Errorf("forgetting the nodes of a previous run: %w", err)
			return
		}
		if n > 0 {
			r.log.Info("registry: forgot the nodes registered before this start; running services register again", "nodes", n)
		}
		r.wg.Go(r.sweepLoop)
	})
	return err
}

// EndStreams ends every Watch stream and the sweeper, without waiting, so
// that watches do not hold up the gRPC server's graceful stop. Registering
// and reading keep working until the database closes.
func (r *Registry) EndStreams() { r.cancel() }

// Close stops the sweeper; close the Registry before the database. The
// error is always nil: Close is an io.Closer.
func (r *Registry) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

func (r *Registry) sweepLoop() {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			if err := r.Sweep(r.ctx); err != nil && r.ctx.Err() == nil {
				r.log.Warn("registry: sweeping expired nodes failed", "err", err)
			}
		}
	}
}

// Sweep deletes expired nodes now and announces what changed; the sweeper
// calls it every interval. It frees space, so it runs on a full disk too
// (schema.Freeing).
func (r *Registry) Sweep(ctx context.Context) error {
	changes, err := r.backend.Sweep(schema.Freeing(ctx))
	if err != nil {
		return err
	}
	for _, c := range changes {
		r.log.Debug("registry: node expired", "service", c.Service.Name, "domain", c.Service.Domain, "action", c.Action)
		r.publish(c)
	}
	return nil
}

// Subscribe calls fn with every change from now on, in the goroutine that
// made it, right after it is stored: a caller that saw Register return
// knows fn has run. fn must not block. The returned func unsubscribes.
func (r *Registry) Subscribe(fn func(*pb.Result)) (cancel func()) {
	r.subMu.Lock()
	id := r.nextID
	r.nextID++
	r.subs[id] = fn
	r.subMu.Unlock()
	return func() {
		r.subMu.Lock()
		delete(r.subs, id)
		r.subMu.Unlock()
	}
}

func (r *Registry) publish(c Change) {
	res := &pb.Result{Action: c.Action, Service: toProto(c.Service), Timestamp: r.now().Unix()}
	r.subMu.RLock()
	defer r.subMu.RUnlock()
	for _, fn := range r.subs {
		fn(res)
	}
}

// Lookup returns the live versions of a registered service in domain (not
// the in-process blocks) and when the answer stops being true by itself:
// the first expiry among their nodes. None is not an error.
func (r *Registry) Lookup(ctx context.Context, domain, name string) ([]*pb.Service, time.Time, error) {
	svcs, err := r.backend.Get(ctx, domain, name)
	if err != nil {
		return nil, time.Time{}, err
	}
	var until time.Time
	out := make([]*pb.Service, len(svcs))
	for i, s := range svcs {
		for _, n := range s.Nodes {
			if until.IsZero() || n.Expires.Before(until) {
				until = n.Expires
			}
		}
		out[i] = toProto(s)
	}
	return out, until, nil
}

// List returns every live registered service version in domain (AnyDomain
// for all), without the in-process blocks.
func (r *Registry) List(ctx context.Context, domain string) ([]*pb.Service, error) {
	svcs, err := r.backend.List(ctx, domain)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Service, len(svcs))
	for i, s := range svcs {
		out[i] = toProto(s)
	}
	return out, nil
}

// localServices returns the in-process services, named name when not "".
func (r *Registry) localServices(name string) []*pb.Service {
	if r.local == nil {
		return nil
	}
	var out []*pb.Service
	for _, s := range r.local() {
		if name == "" || s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func toProto(s Service) *pb.Service {
	out := &pb.Service{
		Name:      s.Name,
		Version:   s.Version,
		Metadata:  s.Metadata,
		Endpoints: s.Endpoints,
		Options:   &pb.Options{Domain: s.Domain},
		Nodes:     make([]*pb.Node, len(s.Nodes)),
	}
	for i, n := range s.Nodes {
		out.Nodes[i] = &pb.Node{Id: n.ID, Address: n.Address, Metadata: n.Metadata}
	}
	return out
}

// DeregisterInstance removes at once the nodes of service name in domain
// whose metadata "instance" is instance (the id the runtime gives each
// process it starts), and announces the change: the runtime calls it when
// such a process is gone, so no call goes to it while its TTL runs out.
// It returns how many nodes it removed.
func (r *Registry) DeregisterInstance(ctx context.Context, domain, name, instance string) (int, error) {
	svcs, err := r.backend.Get(ctx, domain, name)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, s := range svcs {
		var ids []string
		for _, n := range s.Nodes {
			if n.Metadata["instance"] == instance {
				ids = append(ids, n.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		change, err := r.backend.Deregister(ctx, s.Domain, s.Name, s.Version, ids)
		if err != nil {
			return removed, err
		}
		removed += len(ids)
		if change != nil {
			r.publish(*change)
		}
	}
	return removed, nil
}
