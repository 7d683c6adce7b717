package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/auth"
	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/blocks/runtime"
	microauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/gateway"
	"micro.dev/micro/gateway/dashboard"
	"micro.dev/micro/internal/netlimit"
	"micro.dev/micro/node/metrics"
	adminpb "micro.dev/micro/proto/admin"
	regpb "micro.dev/micro/proto/registry"
	"micro.dev/micro/proxy"
	"micro.dev/micro/router"
	"micro.dev/micro/schema"
)

// shutdownGrace is how long calls in flight get to finish at shutdown.
const shutdownGrace = 10 * time.Second

// Node is a running micro server.
type Node struct {
	log     *slog.Logger
	db      *schema.DB
	metrics *metrics.Metrics // observe.go

	id string // this node's id, for the registry and network

	flushLog func() // writes the rate limiter's pending summaries (logging.go)

	// authz is the one namespace check every block is built with.
	authz microauth.Authorizer

	blocks []namedBlock // blocks.go, in build order
	// The blocks other parts of the node talk to.
	auth     *auth.Auth
	registry *registry.Registry
	runtime  *runtime.Runtime
	router   *router.Router

	localOnce sync.Once
	local     []*regpb.Service

	proxy     *proxy.Proxy
	proxyLis  net.Listener
	inproc    *grpc.ClientConn
	gateway   *http.Server
	gatewayLn net.Listener

	limits    Limits            // limits.go
	connLimit *netlimit.Limiter // shared by the listeners

	dashboard   *http.Server // nil when Config.DashboardAddress is empty
	dashboardLn net.Listener

	backups *backups // backup.go; nil without Config.BackupTo

	tlsParts     // tls.go
	tracingParts // trace.go
	clusterParts // cluster.go
	// importing lets one micro cluster import run at a time (import.go).
	importing sync.Mutex
	// stopPacingGC ends Config.PaceGC's pacing (memory.go); nil without it.
	stopPacingGC func()
}

// Start opens the database, starts the blocks and begins serving. On error
// everything already started is stopped again.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	return startWith(ctx, cfg, microauth.Namespaces)
}

// startWith is Start with the blocks' authorizer given: Micro's namespace
// rule, or in tests nil, which every block must refuse every call with.
func startWith(ctx context.Context, cfg Config, authz microauth.Authorizer) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log, flushLog := rateLimited(log)
	n := &Node{log: log, flushLog: flushLog, id: uuid.NewString(), authz: authz, limits: cfg.Limits.withDefaults()}
	if err := n.start(ctx, cfg); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start(ctx context.Context, cfg Config) (err error) {
	log := n.log

	if cfg.Data == "" {
		return errors.New("no database: set --data (MICRO_DATA) to a file path such as ./micro.db")
	}
	n.metrics = metrics.New(cfg.Version, log)
	n.db, err = schema.Open(ctx, cfg.Data, schema.Options{
		Migrations:   Migrations(),
		Observe:      n.metrics.ObserveWrites,
		MinFreeSpace: cfg.MinFreeSpace,
		MaxSize:      cfg.MaxDBSize,
	})
	if err != nil {
		return err
	}

	if err := n.startTLS(cfg); err != nil { // tls.go
		return err
	}
	// The runtime needs the proxy's address for the services it starts.
	if n.proxyLis, err = n.listen("proxy", cfg.ProxyAddress); err != nil {
		return err
	}
	if n.gatewayLn, err = n.listen("gateway", cfg.GatewayAddress); err != nil {
		return err
	}
	if err := n.startCluster(ctx, cfg); err != nil { // cluster.go; nothing without --cluster
		return err
	}
	if err := n.buildBlocks(cfg); err != nil { // blocks.go
		return err
	}
	adminpb.RegisterAdminServer(n.proxy, &admin{node: n})
	if err := n.startBlocks(ctx); err != nil {
		return err
	}

	if err := n.importAtStart(ctx, cfg.ClusterImport); err != nil { // import.go
		return err
	}
	n.watch() // observe.go
	if err := n.startBackups(cfg); err != nil {
		return err
	}
	n.gateway = n.limitHTTP(&http.Server{
		// GET /metrics is served beside the gateway (observe.go).
		Handler: n.httpsHandler(n.metrics.Mount(gateway.New(gateway.Config{
			Router:       &gatewayRouter{router: n.router, conn: n.proxy.Local(n.inproc)},
			Version:      cfg.Version,
			Logger:       log,
			Identify:     n.gatewayNamespace,
			Info:         n.info,
			Health:       n.nodeHealth,   // cluster.go
			HealthDetail: n.healthDetail, // cluster.go
			Observe:      n.metrics.ObserveRequest,
			Tracer:       n.tracer,
			ReadTimeout:  n.limits.ReadTimeout,
			WriteTimeout: n.limits.WriteTimeout,

			TrustedProxies: n.trusted,
		}), n.metricsAccess(cfg))),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	})

	if err := n.startDashboard(cfg); err != nil {
		return err
	}

	go n.serveProxy()      // tls.go
	go n.serveForwarding() // cluster.go; nothing without --cluster
	go n.serve("gateway", func() error { return n.serveHTTP(n.gateway, n.gatewayLn) })

	started := []any{
		"version", cfg.Version,
		"data", n.db.Path(),
		"gateway", n.scheme() + n.gatewayLn.Addr().String(),
		"proxy", n.proxyLis.Addr().String(),
		"metrics", n.scheme() + n.gatewayLn.Addr().String() + "/metrics",
	}
	started = append(started, n.startRedirect()...)
	started = append(started, n.clusterStarted()...)
	if n.dashboard != nil {
		go n.serve("dashboard", func() error { return n.serveHTTP(n.dashboard, n.dashboardLn) })
		started = append(started, "dashboard", n.scheme()+n.dashboardLn.Addr().String())
	}
	// The warnings come before the started line, so whoever waits for that
	// line (an operator's script, the tests) has them too.
	n.warnUnsafe(cfg, n.tls != nil) // warnings.go
	n.paceGC(cfg)                   // memory.go
	log.Info("micro server started", started...)
	go releaseStartupMemory(log) // memory.go
	return nil
}

// startDashboard listens for the web dashboard when it is enabled. The
// page finds the gateway on its own host at the gateway's bound port.
func (n *Node) startDashboard(cfg Config) (err error) {
	if cfg.DashboardAddress == "" {
		return nil
	}
	if n.dashboardLn, err = n.listen("dashboard", cfg.DashboardAddress); err != nil {
		return err
	}
	n.dashboard = n.limitHTTP(&http.Server{
		Handler: n.httpsHandler(dashboard.New(dashboard.Config{
			APIAddress:     n.GatewayAddr,
			Version:        cfg.Version,
			Logger:         n.log,
			TrustedProxies: n.trusted,
		})),
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	})
	return nil
}

// localServices describes the blocks hosted in the proxy for the registry,
// which lists them in every domain. Blocks are all registered before the
// proxy serves, so the description is made once.
func (n *Node) localServices() []*regpb.Service {
	n.localOnce.Do(func() {
		n.local = n.proxy.Services(n.proxyLis.Addr().String(), n.id)
	})
	return n.local
}

// serve runs a listener's loop; it returns when the node closes, and an
// error before that is logged rather than taking the node down.
func (n *Node) serve(what string, loop func() error) {
	if err := loop(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		n.log.Error(what+" stopped serving", "err", err)
	}
}

// gatewayNamespace is the namespace of an HTTP call: the
// Micro-Namespace header, else the issuer of the caller's token, else ""
// (the gateway's default). A token that does not check out names nothing
// here; the proxy's auth answers for it.
func (n *Node) gatewayNamespace(r *http.Request) (string, error) {
	if ns := r.Header.Get("Micro-Namespace"); ns != "" {
		return ns, nil
	}
	if acc, err := n.auth.Identify(r.Context(), gateway.Authorization(r)); err == nil && acc != nil {
		gateway.SetAccount(r, acc.ID)
		return acc.Issuer, nil
	}
	return "", nil
}

// info adds to GET / whether the default admin password is still in use.
func (n *Node) info() map[string]any {
	info := map[string]any{"default_admin_password": n.auth.DefaultPasswordInUse()}
	if n.auth.DefaultPasswordInUse() {
		info["warning"] = "the admin account still has the default password; change it with 'micro user set password' " +
			"or restart with --admin-password"
	}
	return info
}

// GatewayAddr is the address the HTTP gateway listens on.
func (n *Node) GatewayAddr() string { return n.gatewayLn.Addr().String() }

// ProxyAddr is the address the gRPC proxy listens on.
func (n *Node) ProxyAddr() string { return n.proxyLis.Addr().String() }

// Backup writes a consistent copy of the database to dest while serving,
// or on a node of a cluster the cluster's state exported (export.go); the
// copy is not synced to disk (schema.DB.Backup).
func (n *Node) Backup(ctx context.Context, dest string) error {
	return n.snapshotSource().Backup(ctx, dest)
}

// Close shuts the node down in order: end the blocks' streams (the
// runtime's services first), stop taking HTTP requests (dashboard, then
// gateway), drain gRPC, close the blocks, then checkpoint and close the
// database. It returns every error on the way.
func (n *Node) Close() error {
	n.stopBackups()
	// Long-lived streams end first, so they do not hold up the graceful
	// stops below.
	n.endStreams()
	n.closeTLS() // tls.go
	shutdown(n.dashboard, n.dashboardLn)
	shutdown(n.gateway, n.gatewayLn)
	if n.proxy != nil {
		n.proxy.Stop(shutdownGrace)
	}
	if n.proxyLis != nil {
		n.proxyLis.Close()
	}
	if n.connLimit != nil {
		n.connLimit.Close()
	}
	if n.servicesLn != nil {
		n.servicesLn.Close()
	}
	if n.forwardLn != nil { // closed already, unless the node never served
		n.forwardLn.Close()
	}
	if n.inproc != nil {
		n.inproc.Close()
	}
	errs := n.closeBlocks()
	// The blocks are closed: the cluster's connection is no longer used.
	errs = append(errs, n.closeCluster()...) // cluster.go
	if n.db != nil {
		if err := n.db.Close(); errors.Is(err, schema.ErrDiskFull) {
			// Nothing is lost: the WAL holds it and the next start replays it.
			n.log.Warn("stopped on a full disk; the WAL stays beside the database until the next start", "err", err)
		} else if err != nil {
			errs = append(errs, err)
		}
		n.log.Info("micro server stopped", "data", n.db.Path())
	}
	if n.stopPacingGC != nil {
		n.stopPacingGC()
	}
	n.flushLog()
	return errors.Join(errs...)
}

// shutdown stops an HTTP server gracefully, at most for shutdownGrace, or
// closes its listener if it never served.
func shutdown(srv *http.Server, ln net.Listener) {
	switch {
	case srv != nil:
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	case ln != nil:
		ln.Close()
	}
}
