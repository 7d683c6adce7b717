// Package service is how a micro service is written:
//
//	srv := service.New(service.Name("helloworld"))
//	srv.Handle(new(handler.Helloworld)) // every func(ctx, *Req, *Rsp) error becomes Helloworld.<Method>
//	if err := srv.Run(); err != nil {
//		log.Fatal(err)
//	}
//
// Run listens on 127.0.0.1:0 (MICRO_SERVICE_ADDRESS overrides), registers
// the service with the registry through the micro proxy (MICRO_PROXY) with a
// TTL, re-registers as a heartbeat, and on SIGTERM, SIGINT or SIGQUIT
// deregisters and drains calls in flight before returning. Client calls
// other services through the proxy with the service's own token.
//
// New also installs the service's client as client.Default, which the
// building-block packages' package-level functions use: inside a service,
// store.Read(key), config.Get(path), events.Publish(topic, msg) and
// broker.Subscribe(topic, h) need no client in hand and work in the
// service's namespace (the store's table being the service's name).
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/server"
	"micro.dev/micro/internal/tracing"
	regpb "micro.dev/micro/proto/registry"
)

// Service is a micro service: its server, its client and its registration.
type Service struct {
	opts     Options
	provider *sdktrace.TracerProvider // trace.go; nil: not tracing
	given    []Option                 // as New (and Init) got them
	optsErr  error
	log      *slog.Logger
	server   *server.GRPCServer
	client   *client.GRPCClient
	caller   client.Client // client through the client and call wrappers
	nodeID   string
	handled  []handled // what Handle added, for Init to add again
	subs     subscriptions
	jobs     jobs // schedule.go

	mu       sync.Mutex
	lis      net.Listener
	served   chan error
	stopBeat chan struct{}
	beatDone chan struct{}
	stopped  chan struct{}
	started  bool
}

// New returns a service with opts; environment variables override them
// (see Options). Problems with the settings are reported by Run. The new
// service becomes the default one, which the package-level Run, Handle and
// Subscribe use (micro.go).
func New(opts ...Option) *Service {
	s := &Service{stopped: make(chan struct{})}
	s.configure(opts)
	setDefault(s)
	return s
}

// configure builds the service's server and client from opts; Init calls
// it again with more options, before the service starts.
func (s *Service) configure(opts []Option) {
	o, err := newOptions(opts)
	s.given = opts
	s.opts, s.optsErr, s.log = o, err, o.Logger
	s.server = server.New(o.Name, o.Logger)
	s.nodeID = o.Name + "-" + uuid.NewString()
	if s.client != nil {
		s.stopTracing()
		client.ClearDefault(s.caller)
		s.client.Close()
	}
	var (
		traced *client.GRPCClient
		tracer trace.Tracer
	)
	if o.Trace {
		tracer = s.newTracer(o, &traced) // trace.go
		s.server.SetTracer(tracer)
	}
	c, cerr := client.New(client.Options{Proxy: o.Proxy, Namespace: o.Namespace, Service: o.Name,
		ID: o.ID, Secret: o.Secret, Logger: o.Logger, Tracer: tracer})
	traced = c
	if cerr != nil && s.optsErr == nil {
		s.optsErr = fmt.Errorf("proxy address %q: %w", o.Proxy, cerr)
	}
	s.client, s.caller = c, nil
	if c != nil {
		s.caller = s.wrapClient(c) // micro.go
		// The block clients' package-level functions (store.Read,
		// config.Get, events.Publish, ...) call through this service's
		// client from now on.
		client.SetDefault(s.caller)
	}
	if err := s.wrapServer(); err != nil && s.optsErr == nil { // micro.go
		s.optsErr = err
	}
}

// Name is the service's name.
func (s *Service) Name() string { return s.opts.Name }

// Options are the service's settings after the environment's overrides.
func (s *Service) Options() Options { return s.opts }

// Handle adds a handler's endpoints (see framework/server).
func (s *Service) Handle(h any, opts ...server.HandlerOption) error {
	if err := s.server.Handle(h, opts...); err != nil {
		return err
	}
	s.mu.Lock()
	s.handled = append(s.handled, handled{h: h, opts: opts})
	s.mu.Unlock()
	return nil
}

// Server is where generated RegisterXHandler functions add handlers.
func (s *Service) Server() server.Server { return s.server }

// Client calls other services through the proxy with this service's
// token, through the service's client and call wrappers.
func (s *Service) Client() client.Client { return s.caller }

// Address is where the server listens, once started.
func (s *Service) Address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// NodeID is this instance's id in the registry: <name>-<uuid>.
func (s *Service) NodeID() string { return s.nodeID }

// Run starts the service and serves until a signal (or Stop), then stops
// it: deregister, drain, close.
func (s *Service) Run() error {
	if err := s.Start(); err != nil {
		return err
	}
	var sigs chan os.Signal
	if s.opts.HandleSignal {
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
		defer signal.Stop(sigs)
	}
	select {
	case sig := <-sigs:
		s.log.Info("Received signal, stopping", "signal", sig.String(), "service", s.opts.Name)
		return s.Stop()
	case err := <-s.served:
		s.Stop()
		return fmt.Errorf("server stopped: %w", err)
	case <-s.stopped:
		return nil
	}
}

// Start listens, serves and registers, then keeps the registration alive
// in the background.
func (s *Service) Start() error {
	if s.optsErr != nil {
		return s.optsErr
	}
	if s.opts.Name == "" {
		return errMissingName
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("service already started")
	}
	s.started = true
	s.mu.Unlock()

	if err := runAll(s.opts.BeforeStart); err != nil {
		return err
	}
	s.log.Info("Starting [service] "+s.opts.Name, "version", s.opts.Version)
	lis, err := net.Listen("tcp", s.opts.Address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.opts.Address, err)
	}
	s.mu.Lock()
	s.lis = lis
	s.served = make(chan error, 1)
	s.mu.Unlock()
	go func() {
		if err := s.server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.served <- err
		}
	}()
	s.log.Info("Server [grpc] Listening on " + lis.Addr().String())

	if err := s.registerWithRetry(); err != nil {
		s.server.Stop(0)
		return err
	}
	s.stopBeat, s.beatDone = make(chan struct{}), make(chan struct{})
	go s.heartbeat()
	// Subscribers start once the service is registered, as in Micro.
	if err := s.subs.start(s); err != nil { // subscribe.go
		return err
	}
	s.jobs.start(s) // schedule.go: on the leader only
	return runAll(s.opts.AfterStart)
}

// Stop deregisters the service, lets calls in flight finish (up to
// ShutdownGrace) and closes the server and client.
func (s *Service) Stop() error {
	s.mu.Lock()
	select {
	case <-s.stopped:
		s.mu.Unlock()
		return nil
	default:
	}
	close(s.stopped)
	s.mu.Unlock()

	var errs []error
	errs = append(errs, runAll(s.opts.BeforeStop))
	s.subs.stop()
	s.jobs.stop()
	if s.stopBeat != nil {
		close(s.stopBeat)
		<-s.beatDone
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if err := s.deregister(ctx); err != nil {
			s.log.Warn("Deregistering failed; the registry drops the node when its TTL runs out", "service", s.opts.Name, "err", err)
		}
		cancel()
	}
	s.server.Stop(s.opts.ShutdownGrace)
	errs = append(errs, runAll(s.opts.AfterStop))
	s.stopTracing() // trace.go: while the client can still send
	if s.client != nil {
		client.ClearDefault(s.caller)
		s.client.Close()
	}
	s.log.Info("Stopped [service] "+s.opts.Name, "node", s.nodeID)
	return errors.Join(errs...)
}

func runAll(fns []func() error) error {
	for _, fn := range fns {
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// advertise is the address other processes reach the server at: the
// listener's, with an unspecified host (":8080") made 127.0.0.1.
func (s *Service) advertise() string {
	addr := s.Address()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// registration is the registry entry of this instance. A process the
// runtime started names its instance (MICRO_INSTANCE_ID), so the runtime can
// tell when this very process is registered before it stops the old one.
func (s *Service) registration() *regpb.Service {
	md := map[string]string{
		"protocol":  "grpc",
		"server":    "grpc",
		"transport": "grpc",
		"registry":  "micro",
		"domain":    s.namespace(),
	}
	if id := os.Getenv("MICRO_INSTANCE_ID"); id != "" {
		md["instance"] = id
	}
	return &regpb.Service{
		Name:      s.opts.Name,
		Version:   s.opts.Version,
		Metadata:  s.opts.Metadata,
		Endpoints: s.server.Endpoints(),
		Nodes: []*regpb.Node{{
			Id:       s.nodeID,
			Address:  s.advertise(),
			Metadata: md,
		}},
		Options: &regpb.Options{Ttl: int64(s.opts.RegisterTTL / time.Second), Domain: s.namespace()},
	}
}

func (s *Service) namespace() string {
	if s.opts.Namespace == "" {
		return "micro"
	}
	return s.opts.Namespace
}

func (s *Service) registry() regpb.RegistryClient { return regpb.NewRegistryClient(s.client.Conn()) }

// register and deregister are the framework's own calls: unsampled, so a
// heartbeat every 30s makes no trace (tracing.Unsampled).
func (s *Service) register(ctx context.Context) error {
	_, err := s.registry().Register(tracing.Unsampled(ctx), s.registration())
	return err
}

func (s *Service) deregister(ctx context.Context) error {
	reg := s.registration()
	reg.Endpoints = nil
	_, err := s.registry().Deregister(tracing.Unsampled(ctx), reg)
	return err
}

// registerWithRetry registers, trying three times with backoff as Micro
// does, so a service started alongside the server finds it.
func (s *Service) registerWithRetry() error {
	s.log.Info("Registry [service] Registering node: "+s.nodeID, "proxy", s.client.Proxy())
	var err error
	for attempt, wait := 0, time.Second; attempt < 3; attempt, wait = attempt+1, wait*2 {
		if attempt > 0 {
			time.Sleep(wait / 2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.register(ctx)
		cancel()
		if err == nil {
			// Calls can reach it from now on: whoever waits for the
			// service (a script, the README's tour) waits for this line.
			s.log.Info("Registry [service] Registered node: "+s.nodeID, "proxy", s.client.Proxy())
			return nil
		}
	}
	return fmt.Errorf("registering %s with the registry through the proxy at %s: %w", s.opts.Name, s.client.Proxy(), err)
}

// heartbeat re-registers every RegisterInterval until Stop.
func (s *Service) heartbeat() {
	defer close(s.beatDone)
	t := time.NewTicker(s.opts.RegisterInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stopBeat:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(s.opts.RegisterInterval, time.Second))
		err := s.register(ctx)
		cancel()
		switch {
		case err != nil && !failing:
			s.log.Warn("Registry [service] heartbeat failed; retrying", "node", s.nodeID, "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("Registry [service] registered again", "node", s.nodeID)
			failing = false
		}
	}
}
