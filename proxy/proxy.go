// Package proxy is micro's gRPC door on :8081. It hosts the block services
// in-process, answers gRPC health checks and server reflection, and is where
// the CLI and external gRPC clients connect.
//
// The same server is also reachable in-process (Dial), so that the HTTP
// gateway calls the blocks through exactly the interceptors a remote caller
// meets.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/clientaddr"
)

// Config configures a Proxy.
type Config struct {
	Logger *slog.Logger
	// Auth, when set, checks every call except health and reflection
	// before any handler or routing runs (see auth.go).
	Auth Authenticator
	// Observer, when set, hears of every call as it starts and ends (see
	// observe.go); the node's metrics are one.
	Observer Observer
	// IdleTimeout closes a connection with no call in progress for that
	// long, and pings a silent one with calls; zero means
	// DefaultIdleTimeout (limits.go).
	IdleTimeout time.Duration
	// HandshakeTimeout is how long a new connection has to start speaking
	// HTTP/2; zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxConcurrentStreams bounds the calls one connection may have in
	// progress; zero means DefaultMaxConcurrentStreams (limits.go).
	MaxConcurrentStreams uint32
	// TrustedProxies are the load balancers whose x-forwarded-for is
	// believed for the caller's address; nil believes no one.
	TrustedProxies *clientaddr.Proxies
}

// Proxy is the gRPC server of a node.
type Proxy struct {
	log      *slog.Logger
	auth     Authenticator
	observer Observer
	trusted  *clientaddr.Proxies
	server   *grpc.Server
	health   *health.Server
	inproc   *bufconn.Listener
	router   atomic.Pointer[routerHolder] // forward.go
	tracer   trace.Tracer                 // trace.go; nil: off
	// hosted names the services registered here, fixed once Serve starts
	// (grpc-go refuses registrations after that); forward asks it on every
	// call, and GetServiceInfo builds a fresh map of every method each time.
	hosted atomic.Pointer[map[string]bool]

	// The interceptors every call meets, chained: grpc-go's server runs
	// them for network calls, Local (local.go) for in-process ones.
	unaryChain  grpc.UnaryServerInterceptor
	streamChain grpc.StreamServerInterceptor

	mu         sync.Mutex
	registered map[string]registered                 // local.go
	unary      atomic.Pointer[map[string]registered] // frozen at Serve
}

// New returns a proxy with health and reflection registered. Blocks register
// their services on Server() before Serve.
func New(cfg Config) *Proxy {
	p := &Proxy{log: cfg.Logger, auth: cfg.Auth, observer: cfg.Observer, trusted: cfg.TrustedProxies, health: health.NewServer(), inproc: bufconn.Listen(1 << 20)}
	if p.log == nil {
		p.log = slog.Default()
	}
	// observe (observe.go) comes first, so that it logs and counts every
	// call, refused and panicking ones included.
	p.unaryChain = chainUnary([]grpc.UnaryServerInterceptor{p.observeUnary, p.recoverUnary, p.authUnary, p.traceUnary})
	// Calls to services not hosted here are forwarded (forward.go); the
	// stream interceptors, auth among them, run for those too.
	p.streamChain = chainStream([]grpc.StreamServerInterceptor{p.observeStream, p.recoverStream, p.authStream, p.traceStream})
	p.server = grpc.NewServer(append(connectionLimits(cfg),
		grpc.MaxRecvMsgSize(codec.MaxMessageSize),
		grpc.MaxSendMsgSize(codec.MaxMessageSize),
		grpc.UnaryInterceptor(p.unaryChain),
		grpc.StreamInterceptor(p.streamChain),
		grpc.UnknownServiceHandler(p.forward),
		// Calls run on a pool of goroutines whose stacks have already
		// grown to a call's depth (interceptors, forwarding, a client call
		// to the service): a new goroutine per call grew its stack again
		// each time, runtime.newstack being a tenth of a forwarded call's
		// CPU. Past the pool, calls get a goroutine of their own as before.
		grpc.NumStreamWorkers(streamWorkers()),
	)...)
	healthpb.RegisterHealthServer(p.server, p.health)
	p.registerReflection() // reflect.go: the blocks and registered services
	return p
}

// streamWorkers is the size of the proxy's pool of call goroutines: a
// few per CPU, since forwarded calls mostly wait on the service.
func streamWorkers() uint32 { return uint32(max(16, 4*runtime.GOMAXPROCS(0))) }

// Server is the registrar block services are added to.
func (p *Proxy) Server() *grpc.Server { return p.server }

// Methods reports the services hosted in-process and, for each, its methods'
// streaming shape; the node's router uses it to answer for the blocks.
func (p *Proxy) Methods() map[string]grpc.ServiceInfo { return p.server.GetServiceInfo() }

// Serve serves gRPC on lis and, in-process, on the listener behind Dial. It
// marks every hosted service as serving in the health service.
func (p *Proxy) Serve(lis net.Listener) error {
	hosted := map[string]bool{}
	for name := range p.server.GetServiceInfo() {
		hosted[name] = true
		p.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	p.hosted.Store(&hosted)
	p.freezeLocal()
	go p.server.Serve(p.inproc)
	return p.server.Serve(lis)
}

// isHosted reports whether service (a gRPC service name) is registered here.
func (p *Proxy) isHosted(service string) bool {
	if h := p.hosted.Load(); h != nil {
		return (*h)[service]
	}
	_, ok := p.server.GetServiceInfo()[service]
	return ok
}

// Dial returns an in-process client connection to the proxy.
func (p *Proxy) Dial() (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///inproc",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return p.inproc.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(codec.MaxMessageSize), grpc.MaxCallSendMsgSize(codec.MaxMessageSize)),
	)
}

// Stop marks the node not serving, lets calls in flight finish for up to
// grace, then closes every connection (streams that outlive grace included).
func (p *Proxy) Stop(grace time.Duration) {
	p.health.Shutdown()
	done := make(chan struct{})
	go func() {
		p.server.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		p.server.Stop()
		<-done
	}
}

// A panic in a handler answers that call with a 500 and leaves the server up.
func (p *Proxy) recovered(method string, r any) error {
	p.log.Error("handler panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return errors.InternalServerError("micro", "internal error in %s", method)
}

func (p *Proxy) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (rsp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = p.recovered(info.FullMethod, r)
		}
	}()
	return h(ctx, req)
}

func (p *Proxy) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = p.recovered(info.FullMethod, r)
		}
	}()
	return h(srv, ss)
}
