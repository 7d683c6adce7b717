package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/network"
	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/blocks/store"
	"micro.dev/micro/gateway"
	regpb "micro.dev/micro/proto/registry"
	"micro.dev/micro/proxy"
	"micro.dev/micro/schema"
)

// shutdownGrace is how long calls in flight get to finish at shutdown.
const shutdownGrace = 10 * time.Second

// Node is a running micro server.
type Node struct {
	log *slog.Logger
	db  *schema.DB

	id string // this node's id, for the registry and network

	store    *store.Store
	registry *registry.Registry
	router   *network.Router

	localOnce sync.Once
	local     []*regpb.Service

	proxy     *proxy.Proxy
	proxyLis  net.Listener
	inproc    *grpc.ClientConn
	gateway   *http.Server
	gatewayLn net.Listener
}

// Start opens the database, starts the blocks and begins serving. On error
// everything already started is stopped again.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Node{log: log, id: uuid.NewString()}
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
	n.db, err = schema.Open(ctx, cfg.Data, schema.Options{
		Migrations: []schema.Migrations{store.Migrations, registry.Migrations},
	})
	if err != nil {
		return err
	}

	n.proxy = proxy.New(proxy.Config{Logger: log})
	n.store = store.New(n.db)
	n.store.Register(n.proxy.Server())
	n.store.Start()
	n.registry = registry.New(n.db, registry.WithLogger(log), registry.WithLocal(n.localServices))
	n.registry.Register(n.proxy.Server())
	n.registry.Start()

	if n.proxyLis, err = listen("proxy", cfg.ProxyAddress); err != nil {
		return err
	}
	if n.gatewayLn, err = listen("gateway", cfg.GatewayAddress); err != nil {
		return err
	}
	if n.inproc, err = n.proxy.Dial(); err != nil {
		return err
	}
	// The network block routes calls to services not hosted here, for the
	// proxy and the gateway alike.
	n.router = network.NewRouter(network.Config{
		Registry:  n.registry,
		Local:     n.proxy.Methods,
		LocalConn: n.inproc,
		NodeID:    n.id,
		Address:   n.proxyLis.Addr().String(),
		Logger:    log,
	})
	network.New(n.router).Register(n.proxy.Server())
	n.proxy.SetRouter(n.router)

	n.gateway = &http.Server{
		Handler: gateway.New(gateway.Config{
			Router:  &gatewayRouter{router: n.router, conn: n.inproc},
			Version: cfg.Version,
			Logger:  log,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	go n.serve("proxy", func() error { return n.proxy.Serve(n.proxyLis) })
	go n.serve("gateway", func() error { return n.gateway.Serve(n.gatewayLn) })

	log.Info("micro server started",
		"version", cfg.Version,
		"data", n.db.Path(),
		"gateway", "http://"+n.gatewayLn.Addr().String(),
		"proxy", n.proxyLis.Addr().String())
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

func listen(what, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, fmt.Errorf("no %s address: give host:port, or :0 for any free port", what)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s cannot listen on %s: %w", what, addr, err)
	}
	return lis, nil
}

// GatewayAddr is the address the HTTP gateway listens on.
func (n *Node) GatewayAddr() string { return n.gatewayLn.Addr().String() }

// ProxyAddr is the address the gRPC proxy listens on.
func (n *Node) ProxyAddr() string { return n.proxyLis.Addr().String() }

// Backup writes a consistent copy of the database to dest while serving.
func (n *Node) Backup(ctx context.Context, dest string) error { return n.db.Backup(ctx, dest) }

// Close shuts the node down in order: stop taking HTTP requests, drain gRPC,
// stop the blocks, then checkpoint and close the database.
func (n *Node) Close() error {
	var errs []error
	if n.gateway != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := n.gateway.Shutdown(ctx); err != nil {
			n.gateway.Close()
		}
		cancel()
	} else if n.gatewayLn != nil {
		n.gatewayLn.Close()
	}
	if n.proxy != nil {
		n.proxy.Stop(shutdownGrace)
	}
	if n.proxyLis != nil {
		n.proxyLis.Close()
	}
	if n.inproc != nil {
		n.inproc.Close()
	}
	if n.router != nil {
		n.router.Close()
	}
	if n.registry != nil {
		n.registry.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			errs = append(errs, err)
		}
		n.log.Info("micro server stopped", "data", n.db.Path())
	}
	return errors.Join(errs...)
}
