package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/broker"
	"micro.dev/micro/blocks/config"
	"micro.dev/micro/blocks/events"
	"micro.dev/micro/blocks/store"
	"micro.dev/micro/gateway"
	"micro.dev/micro/proxy"
	"micro.dev/micro/schema"
)

// shutdownGrace is how long calls in flight get to finish at shutdown.
const shutdownGrace = 10 * time.Second

// Node is a running micro server.
type Node struct {
	log *slog.Logger
	db  *schema.DB

	store  *store.Store
	config *config.Config
	events *events.Events
	broker *broker.Broker

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
	n := &Node{log: log}
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
		Migrations: []schema.Migrations{store.Migrations, config.Migrations, events.Migrations},
	})
	if err != nil {
		return err
	}

	n.proxy = proxy.New(proxy.Config{Logger: log})
	n.store = store.New(n.db)
	n.store.Register(n.proxy.Server())
	n.store.Start()

	// Auth is wired in later: each block then gets
	// With{Authorize}(auth.AuthorizeAdmin) (broker: auth.Authorize).
	configOpts := []config.Option{config.WithLogger(log)}
	if cfg.ConfigSecretKey != "" {
		key, err := config.ParseSecretKey(cfg.ConfigSecretKey)
		if err != nil {
			return fmt.Errorf("--config-secret-key (MICRO_CONFIG_SECRET_KEY): %w", err)
		}
		configOpts = append(configOpts, config.WithSecretKey(key))
	}
	n.config = config.New(n.db, configOpts...)
	n.config.Register(n.proxy.Server())
	n.events = events.New(n.db, events.WithRetention(cfg.EventsRetention), events.WithLogger(log))
	n.events.Register(n.proxy.Server())
	n.events.Start()
	n.broker = broker.New(broker.WithLogger(log))
	n.broker.Register(n.proxy.Server())

	if n.proxyLis, err = listen("proxy", cfg.ProxyAddress); err != nil {
		return err
	}
	if n.gatewayLn, err = listen("gateway", cfg.GatewayAddress); err != nil {
		return err
	}
	if n.inproc, err = n.proxy.Dial(); err != nil {
		return err
	}

	n.gateway = &http.Server{
		Handler: gateway.New(gateway.Config{
			Router:  &localRouter{proxy: n.proxy, conn: n.inproc},
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
	// Long-lived streams (watch, consume, subscribe) end first, so they do
	// not hold up the graceful stops below.
	if n.config != nil {
		n.config.Close()
	}
	if n.broker != nil {
		n.broker.Close()
	}
	if n.events != nil {
		n.events.Stop()
	}
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
	if n.events != nil {
		n.events.Close()
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
