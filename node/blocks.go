package node

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/auth"
	"micro.dev/micro/blocks/broker"
	"micro.dev/micro/blocks/config"
	"micro.dev/micro/blocks/events"
	"micro.dev/micro/blocks/network"
	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/blocks/runtime"
	"micro.dev/micro/blocks/store"
	syncblock "micro.dev/micro/blocks/sync"
	traceblock "micro.dev/micro/blocks/trace"
	"micro.dev/micro/node/tlsserve"
	"micro.dev/micro/proxy"
	"micro.dev/micro/router"
	"micro.dev/micro/schema"
)

// block is the one lifecycle every building block has. Node registers it
// on the proxy, starts it before serving, and at shutdown ends its streams
// before the gRPC server drains and closes it once the server has stopped,
// before the database.
type block interface {
	// Register serves the block's gRPC services on gs.
	Register(gs grpc.ServiceRegistrar)
	// Start begins the block's background work.
	Start(ctx context.Context) error
	// EndStreams ends the block's long-lived calls (watch, consume,
	// subscribe, follow, and the runtime's services) without waiting for
	// the database to go: unary calls keep working.
	EndStreams()
	// Close stops what is left and waits for it.
	Close() error
}

// blockSpec is one block as node runs it: its tables and how it is built
// from the node's parts. A block is built with the node's authorizer and
// logger.
type blockSpec struct {
	name       string
	migrations []schema.Migrations
	build      func(n *Node, cfg Config) (block, error)
}

// blockSpecs are the node's blocks in the order they are built, registered
// and started; they end their streams and close in the reverse order. Auth
// comes first (the proxy puts it in front of every call), the runtime and
// the network late: they need the proxy's address and its in-process
// connection. So at shutdown the runtime's services stop first, while
// everything they use still serves.
var blockSpecs = []blockSpec{
	{"auth", []schema.Migrations{auth.Migrations}, (*Node).newAuth},
	{"trace", []schema.Migrations{traceblock.Migrations}, (*Node).newTrace}, // trace.go
	{"store", []schema.Migrations{store.Migrations}, (*Node).newStore},
	{"config", []schema.Migrations{config.Migrations}, (*Node).newConfig},
	{"events", []schema.Migrations{events.Migrations}, (*Node).newEvents},
	{"sync", []schema.Migrations{syncblock.Migrations}, (*Node).newSync},
	{"broker", nil, (*Node).newBroker},
	{"registry", []schema.Migrations{registry.Migrations}, (*Node).newRegistry},
	{"runtime", []schema.Migrations{runtime.Migrations}, (*Node).newRuntime},
	{"network", nil, (*Node).newNetwork},
}

// Migrations are the schemas of every block a node runs: what its database
// holds, and what a program opening that file itself must pass to
// schema.Open (which refuses a file with blocks it does not know).
func Migrations() []schema.Migrations {
	var ms []schema.Migrations
	for _, s := range blockSpecs {
		ms = append(ms, s.migrations...)
	}
	// The certificate cache is not a block; node/tlsserve owns its table.
	return append(ms, tlsserve.Migrations)
}

// namedBlock is a built block with its name, for errors.
type namedBlock struct {
	name string
	block
}

// buildBlocks builds every block in order and registers it on the proxy.
func (n *Node) buildBlocks(cfg Config) error {
	for _, s := range blockSpecs {
		b, err := s.build(n, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		b.Register(n.proxy)
		n.blocks = append(n.blocks, namedBlock{s.name, b})
	}
	return nil
}

// startBlocks starts every block in order.
func (n *Node) startBlocks(ctx context.Context) error {
	for _, b := range n.blocks {
		if err := b.Start(ctx); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

// endStreams ends every block's streams, the last built first.
func (n *Node) endStreams() {
	for i := len(n.blocks) - 1; i >= 0; i-- {
		n.blocks[i].EndStreams()
	}
}

// closeBlocks closes every block, the last built first, and returns what
// went wrong.
func (n *Node) closeBlocks() []error {
	var errs []error
	for i := len(n.blocks) - 1; i >= 0; i-- {
		if err := n.blocks[i].Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.blocks[i].name, err))
		}
	}
	return errs
}

// newAuth builds auth, and the proxy that puts it in front of every call
// and hosts every block.
func (n *Node) newAuth(cfg Config) (block, error) {
	n.auth = auth.New(n.db, n.authz, append([]auth.Option{auth.WithLogger(n.log), auth.WithAdminPassword(cfg.AdminPassword)},
		n.authOptions()...)...)
	n.proxy = proxy.New(proxy.Config{Logger: n.log, Auth: n.auth, Observer: n.metrics,
		IdleTimeout: n.limits.IdleTimeout, HandshakeTimeout: n.limits.ReadHeaderTimeout, TrustedProxies: n.trusted,
		MaxConcurrentStreams: uint32(n.limits.MaxStreamsPerConn)})
	return n.auth, nil
}

func (n *Node) newStore(cfg Config) (block, error) {
	return store.New(n.db, n.authz, append([]store.Option{store.WithLogger(n.log), store.WithMaxBlobSize(cfg.MaxBlobSize)},
		n.storeOptions()...)...), nil
}

func (n *Node) newConfig(cfg Config) (block, error) {
	opts := append([]config.Option{config.WithLogger(n.log)}, n.configOptions()...)
	if cfg.ConfigSecretKey != "" {
		key, err := config.ParseSecretKey(cfg.ConfigSecretKey)
		if err != nil {
			return nil, fmt.Errorf("--config-secret-key (MICRO_CONFIG_SECRET_KEY): %w", err)
		}
		opts = append(opts, config.WithSecretKey(key))
	}
	return config.New(n.db, n.authz, opts...), nil
}

func (n *Node) newEvents(cfg Config) (block, error) {
	return events.New(n.db, n.authz, append([]events.Option{events.WithRetention(cfg.EventsRetention), events.WithLogger(n.log)},
		n.eventsOptions()...)...), nil
}

func (n *Node) newBroker(Config) (block, error) {
	return broker.New(n.authz, append([]broker.Option{broker.WithLogger(n.log)}, n.brokerOptions()...)...), nil
}

// newRegistry builds the registry, which lists the blocks hosted here in
// every domain.
func (n *Node) newRegistry(Config) (block, error) {
	n.registry = registry.New(n.db, n.authz, append([]registry.Option{registry.WithLogger(n.log), registry.WithLocal(n.localServices)},
		n.registryOptions()...)...)
	return n.registry, nil
}

// newRuntime builds the runtime, which gives the services it starts the
// proxy's address (MICRO_PROXY) and service accounts from auth.
func (n *Node) newRuntime(cfg Config) (block, error) {
	rc := runtime.Config{
		Logger:       n.log,
		ProxyAddress: n.servicesProxyAddr(), // tls.go: a loopback plaintext door when TLS is on
		Trace:        n.tracer != nil,
		MintAccount:  n.auth.MintServiceAccount,
		WaitReady:    n.waitRegistered,
		Gone:         n.instanceGone, // ready.go
		// Who may run code, and the logs it leaves (issues 9, 10).
		RunNamespaces: cfg.RuntimeNamespaces,
		LogBytes:      cfg.RuntimeLogBytes,
		LogAge:        cfg.RuntimeLogAge,
	}
	n.runtimeCluster(&rc) // cluster.go
	n.runtime = runtime.New(n.db, n.authz, rc)
	return n.runtime, nil
}

// newNetwork builds the router, which routes calls to services not hosted
// here for the proxy and the gateway alike, and the network block that
// describes it (and closes it with the other blocks).
func (n *Node) newNetwork(Config) (block, error) {
	var err error
	if n.inproc, err = n.proxy.Dial(); err != nil {
		return nil, err
	}
	rc := router.Config{
		Registry:  n.registry,
		Local:     n.proxy.Methods,
		LocalConn: n.inproc,
		Logger:    n.log,
		Tracer:    n.tracer,
	}
	n.routeVia(&rc) // cluster.go
	n.router = router.New(rc)
	n.proxy.SetRouter(n.router)
	return network.New(n.router, n.authz, network.Node{ID: n.id, Address: n.proxyLis.Addr().String()}, n.networkOptions()...), nil
}
