// Package runtime is the runtime block: Micro's runtime.Runtime and
// runtime.Source services, which build user services from source (a
// directory on this machine, an uploaded tarball or a git repository) with
// `go build` and supervise them as child processes.
//
// Everything the runtime knows lives in the micro database: each service's
// desired state and status, its source archive, its logs (capped per
// service) and the process groups it started. So a server that restarts,
// even after kill -9, stops what its previous run left behind and brings
// every service back, rebuilt, with its logs.
//
// Each service is supervised by its own goroutine (a unit): it builds,
// starts the process in its own process group, restarts it after a crash
// with exponential backoff, and, on a change of source, builds the new
// version and starts it beside the old one, stopping the old one only once
// the new one is ready (a zero-downtime swap). A failed build leaves the old
// version running.
package runtime

import (
	"context"
	"embed"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/runtime/source"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/runtime"
	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the runtime's schema; pass it to schema.Open.
var Migrations = schema.Embedded("runtime", migrationFiles)

// Defaults of Config's zero values.
const (
	DefaultLogLines      = 5000
	DefaultLogBytes      = 4 << 20
	DefaultLogAge        = 7 * 24 * time.Hour
	DefaultMaxLineBytes  = 4096
	DefaultSettle        = time.Second
	DefaultReadyTimeout  = 30 * time.Second
	DefaultStopGrace     = 10 * time.Second
	DefaultWatchDelay    = 300 * time.Millisecond
	DefaultMaxSourceSize = source.MaxSize
	DefaultBuildTimeout  = 10 * time.Minute
)

// Backoff is how a crashed process is restarted: after Initial, doubling
// on each consecutive crash up to Max. A process that ran for at least
// Reset before it crashed counts as a first crash again.
type Backoff struct {
	Initial, Max, Reset time.Duration
}

// DefaultBackoff is the backoff of a Config that sets none.
var DefaultBackoff = Backoff{Initial: time.Second, Max: time.Minute, Reset: 30 * time.Second}

// Config configures the runtime. The func fields are seams the node fills
// from other blocks; nil means the behaviour described on each.
type Config struct {
	Logger *slog.Logger

	// Trace has services record spans for the trace block (MICRO_TRACE).
	Trace bool
	// ProxyAddress is the gRPC proxy services are given as MICRO_PROXY
	// (and MICRO_SERVICE_NETWORK). An unspecified host (":8081",
	// "[::]:8081") becomes 127.0.0.1.
	ProxyAddress string
	// MintAccount returns credentials for a service: auth mints a service
	// account for name in namespace. They reach the process as
	// MICRO_AUTH_ID/MICRO_AUTH_SECRET and MICRO_CLIENT_ID/MICRO_CLIENT_SECRET.
	// nil: no credentials are passed.
	MintAccount func(ctx context.Context, namespace, name string) (id, secret string, err error)
	// WaitReady returns once the process with MICRO_INSTANCE_ID instanceID
	// is ready to serve, i.e. the registry holds a node of the service whose
	// metadata "instance" is instanceID. It is given at most ReadyTimeout.
	// nil: a process is ready once it has stayed up for Settle.
	WaitReady func(ctx context.Context, namespace, name, instanceID string) error
	// Gone is told that the process with MICRO_INSTANCE_ID instanceID has
	// exited (crashed, killed, stopped), so whatever it registered can be
	// removed at once rather than when its TTL runs out. nil: nothing is
	// told.
	Gone func(ctx context.Context, namespace, name, instanceID string)
	// RunNamespaces are the namespaces whose own admins may run code here
	// (Create, Update, Upload); AnyNamespace ("*") is every one. In any
	// other namespace only an admin of namespace micro may: a service runs
	// as the server's user (access.go).
	RunNamespaces []string

	// CacheDir holds checkouts and binaries. Default: beside the database,
	// <data>.cache, so two servers on different files never share one. Go's
	// own build cache is used as usual.
	CacheDir string
	// GoBinary and GitBinary are the commands run for builds and git
	// sources; default "go" and "git" on PATH.
	GoBinary, GitBinary string

	// LogLines is how many lines of logs each service keeps (default 5000);
	// MaxLineBytes cuts longer lines (default 4096).
	LogLines, MaxLineBytes int
	// LogBytes bounds the size of each service's logs (default 4 MiB) and
	// LogAge their age (default 7 days); the oldest lines go first. A
	// negative value sets no bound.
	LogBytes int64
	LogAge   time.Duration
	// Backoff paces restarts after a crash (default DefaultBackoff).
	Backoff Backoff
	// Settle is how long a process must stay up to count as ready when
	// WaitReady is nil (default 1s).
	Settle time.Duration
	// ReadyTimeout bounds WaitReady (default 30s).
	ReadyTimeout time.Duration
	// StopGrace is how long a process group gets after SIGTERM before
	// SIGKILL (default 10s).
	StopGrace time.Duration
	// WatchDelay is how long the files of a watched source must be quiet
	// before a rebuild (default 300ms).
	WatchDelay time.Duration
	// MaxSourceSize caps an uploaded or snapshotted source archive (default
	// 64 MiB).
	MaxSourceSize int64
	// BuildTimeout bounds one checkout and build (default 10m).
	BuildTimeout time.Duration
	// Now is the clock for times recorded; default time.Now.
	Now func() time.Time

	// JetStream, when set, keeps the services' desired state, status,
	// source archives and logs in the cluster's JetStream (Replicas
	// copies) instead of the database, so every node answers status and
	// logs; the process groups a node started stay in its database.
	JetStream jetstream.JetStream
	Replicas  int
	// Node names this node in the cluster (default: the name of the
	// JetStream server it is connected to). A service runs on the node it
	// was created through: that node alone starts, restarts, updates and
	// deletes it; its status shows the node.
	Node string
}

func (c *Config) defaults(dbPath string) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.ProxyAddress = localAddress(c.ProxyAddress)
	if abs, err := filepath.Abs(c.CacheDir); err == nil && c.CacheDir != "" {
		c.CacheDir = abs
	}
	if c.CacheDir == "" {
		c.CacheDir = defaultCacheDir(dbPath)
	}
	if c.GoBinary == "" {
		c.GoBinary = "go"
	}
	if c.GitBinary == "" {
		c.GitBinary = "git"
	}
	if c.LogLines <= 0 {
		c.LogLines = DefaultLogLines
	}
	if c.LogBytes == 0 {
		c.LogBytes = DefaultLogBytes
	}
	if c.LogAge == 0 {
		c.LogAge = DefaultLogAge
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = DefaultBackoff.Initial
	}
	if c.Backoff.Max < c.Backoff.Initial {
		c.Backoff.Max = max(DefaultBackoff.Max, c.Backoff.Initial)
	}
	if c.Backoff.Reset <= 0 {
		c.Backoff.Reset = DefaultBackoff.Reset
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.StopGrace <= 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.WatchDelay <= 0 {
		c.WatchDelay = DefaultWatchDelay
	}
	if c.MaxSourceSize <= 0 {
		c.MaxSourceSize = DefaultMaxSourceSize
	}
	if c.BuildTimeout <= 0 {
		c.BuildTimeout = DefaultBuildTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// localAddress turns a listen address into one a local process can dial.
// The proxy address the runtime is given is a plaintext listener of this
// node (the loopback one when the public proxy speaks TLS), so one bound to
// another interface is marked http://: the services' client would take a
// bare non-loopback address for a remote proxy and speak TLS to it.
func localAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		host = "127.0.0.1"
	case host != "localhost" && (ip == nil || !ip.IsLoopback()):
		return "http://" + net.JoinHostPort(host, port)
	}
	return net.JoinHostPort(host, port)
}

// defaultCacheDir is beside the database: <data>.cache. It goes with the
// file it belongs to, a test's temp file included, and is safe to delete
// (the next start rebuilds into it).
func defaultCacheDir(dbPath string) string { return dbPath + ".cache" }

// Runtime is the runtime block. Its exported handler methods implement
// pb.RuntimeServer; Register serves them and the Source service.
type Runtime struct {
	pb.UnimplementedRuntimeServer

	cfg     Config
	authz   auth.Authorizer
	log     *slog.Logger
	backend Backend
	logs    *logWriter
	ignore  []string // paths the watchers leave out
	// builds bounds concurrent checkouts and builds: the machine's cores
	// are shared with the services themselves.
	builds chan struct{}

	ctx    context.Context
	cancel context.CancelFunc

	// ops serializes Create, Update and Delete, so two calls never race on
	// one service's unit.
	ops sync.Mutex

	mu      sync.Mutex
	units   map[Key]*unit
	started bool
	closed  bool
	wg      sync.WaitGroup

	restarts atomic.Int64 // stats.go
}

// New returns the runtime block on db, which must have been opened with
// Migrations. authz decides who may read (logs, status) and change a
// namespace's services; nil refuses every call. Call Start once the proxy
// serves, to restore the services.
func New(db *schema.DB, authz auth.Authorizer, cfg Config) *Runtime {
	cfg.defaults(db.Path())
	r := &Runtime{
		cfg:     cfg,
		authz:   authz,
		log:     cfg.Logger,
		backend: newSQLite(db, cfg.Now),
		builds:  make(chan struct{}, 2),
		units:   map[Key]*unit{},
	}
	if cfg.JetStream != nil {
		r.backend = newJetStream(newSQLite(db, cfg.Now), cfg.JetStream, cfg)
		if r.cfg.Node == "" {
			r.cfg.Node = cfg.JetStream.Conn().ConnectedServerName()
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.logs = newLogWriter(r.backend, LogCap{Lines: cfg.LogLines, Bytes: cfg.LogBytes, Age: cfg.LogAge}, r.log)
	// A watched source tree may hold the database or the cache (micro
	// server started in the service's directory): their writes are not
	// changes of the source, and would rebuild forever.
	p := db.Path()
	r.ignore = []string{p, p + "-wal", p + "-shm", p + "-journal", cfg.CacheDir}
	return r
}

// Register serves the runtime.Runtime and runtime.Source services on gs.
func (r *Runtime) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterRuntimeServer(gs, r)
	pb.RegisterSourceServer(gs, &sourceServer{r: r})
}

// Start stops the process groups a previous run of the server left behind
// (it was killed before it could stop them), then builds and starts every
// service again. It returns once the restore has begun; builds go on in the
// background. Calling it again does nothing.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return nil
	}
	r.started = true
	r.mu.Unlock()

	if err := guardServer(); err != nil {
		r.log.Warn("runtime: cannot keep services out of the server's memory and environment", "err", err)
	}
	r.wg.Go(func() { r.logs.run(r.ctx) })
	r.reapLeftovers(ctx)
	svcs, err := r.backend.ListServices(ctx, "")
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if !r.runsHere(s) {
			continue // another node of the cluster runs it
		}
		r.log.Info("runtime: restoring service", "service", s.Key.String(), "source", s.Source)
		r.logs.note(s.Key, "", "server started: rebuilding and starting the service")
		r.startUnit(s, false)
	}
	return nil
}

// EndStreams stops every service (SIGTERM to each process group, SIGKILL
// after the grace period), waits for them, and ends the Logs streams that
// follow them. Their desired state stays in the database, so the next Start
// brings them back. Services hold streams to the other blocks and
// deregister on SIGTERM: end the runtime's streams before any other
// block's, while the proxy and the database still serve.
func (r *Runtime) EndStreams() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	units := make([]*unit, 0, len(r.units))
	for _, u := range r.units {
		units = append(units, u)
	}
	r.mu.Unlock()

	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(u.stop)
	}
	wg.Wait()
	r.cancel()
}

// Close stops the services (EndStreams) and waits for the runtime's own
// work to finish; close the runtime before the database. The error is
// always nil: Close is an io.Closer.
func (r *Runtime) Close() error {
	r.EndStreams()
	r.wg.Wait()
	return nil
}

// startUnit begins supervising s, replacing nothing: the caller made sure
// no unit runs for its key. The unit deploys at once; the returned channel
// gets the outcome of that first build.
func (r *Runtime) startUnit(s Service, refetch bool) (*unit, <-chan error) {
	u := newUnit(r, s)
	r.mu.Lock()
	r.units[s.Key] = u
	r.mu.Unlock()
	res := u.request(refetch)
	r.wg.Go(u.run)
	return u, res
}

// unit returns the unit supervising k, if any.
func (r *Runtime) unit(k Key) *unit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.units[k]
}

// dropUnit forgets u if it is still the unit of its key.
func (r *Runtime) dropUnit(u *unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.units[u.key] == u {
		delete(r.units, u.key)
	}
}

// isClosed reports whether Close has begun.
func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// nodeKey is the metadata key naming the node a service runs on, in a
// cluster.
const nodeKey = "node"

// runsHere reports whether this node runs s: always outside a cluster; in
// one, when s was created through this node.
func (r *Runtime) runsHere(s Service) bool {
	return r.cfg.Node == "" || s.Metadata[nodeKey] == "" || s.Metadata[nodeKey] == r.cfg.Node
}

// ownedHere refuses a change of s through a node other than the one that
// runs it: only that node can start, stop or rebuild its processes.
func (r *Runtime) ownedHere(s Service, op string) error {
	if r.runsHere(s) {
		return nil
	}
	return errors.PreconditionFailed(errID, "service %s runs on node %s: %s it through that node", s.Name, s.Metadata[nodeKey], op)
}
