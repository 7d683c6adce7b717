package router

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	regpb "micro.dev/micro/proto/registry"
)

// fakeRegistry is an in-memory Registry counting lookups.
type fakeRegistry struct {
	mu       sync.Mutex
	services map[string][]*regpb.Service // domain/name
	until    time.Time
	lookups  int
	subs     []func(*regpb.Result)
}

func newFakeRegistry() *fakeRegistry { return &fakeRegistry{services: map[string][]*regpb.Service{}} }

func (f *fakeRegistry) set(domain string, s *regpb.Service) {
	f.mu.Lock()
	s.Options = &regpb.Options{Domain: domain}
	f.services[domain+"/"+s.Name] = []*regpb.Service{s}
	subs := f.subs
	f.mu.Unlock()
	for _, fn := range subs {
		fn(&regpb.Result{Action: "update", Service: s})
	}
}

func (f *fakeRegistry) Lookup(ctx context.Context, domain, name string) ([]*regpb.Service, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	return f.services[domain+"/"+name], f.until, nil
}

func (f *fakeRegistry) List(ctx context.Context, domain string) ([]*regpb.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*regpb.Service
	for k, v := range f.services {
		if domain == "*" || strings.HasPrefix(k, domain+"/") {
			out = append(out, v...)
		}
	}
	return out, nil
}

func (f *fakeRegistry) Subscribe(fn func(*regpb.Result)) func() {
	f.mu.Lock()
	f.subs = append(f.subs, fn)
	f.mu.Unlock()
	return func() {}
}

func (f *fakeRegistry) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// node is a gRPC server answering any method with its own name, and
// recording the metadata it was called with.
type node struct {
	name string
	addr string
	gs   *grpc.Server
	mu   sync.Mutex
	md   grpcmd.MD
}

func startNode(t *testing.T, name string, opts ...grpc.ServerOption) *node {
	t.Helper()
	n := &node{name: name}
	n.gs = grpc.NewServer(append(opts, grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		var in codec.Frame
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		n.mu.Lock()
		n.md, _ = grpcmd.FromIncomingContext(ss.Context())
		n.mu.Unlock()
		return ss.SendMsg(&codec.Frame{Data: []byte(n.name)})
	}))...)
	n.addr = testkit.Serve(t, n.gs)
	return n
}

func service(name string, nodes ...*node) *regpb.Service {
	s := &regpb.Service{Name: name, Version: "latest", Endpoints: []*regpb.Endpoint{
		{Name: "Echo.Call"},
		{Name: "Echo.Stream", Metadata: map[string]string{"stream": "true", "server_stream": "true", "client_stream": "false"}},
		{Name: "Echo.Chat", Metadata: map[string]string{"stream": "true"}},
	}}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, &regpb.Node{Id: n.name, Address: n.addr})
	}
	return s
}

func call(t *testing.T, r *Router, ns, svc string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	route, err := r.Resolve(ctx, ns, svc, "Echo.Call")
	if err != nil {
		return "", err
	}
	var out codec.Frame
	err = route.Conn.Invoke(ctx, "/"+svc+".Echo/Call", &codec.Frame{Data: []byte("x")}, &out, grpc.CallContentSubtype(codec.Bytes))
	return string(out.Data), err
}

func TestRoundRobinAndRefused(t *testing.T) {
	reg := newFakeRegistry()
	a, b := startNode(t, "a"), startNode(t, "b")
	reg.set("micro", service("echo", a, b))
	r := New(Config{Registry: reg})
	defer r.Close()

	counts := map[string]int{}
	for range 10 {
		got, err := call(t, r, "micro", "echo")
		if err != nil {
			t.Fatal(err)
		}
		counts[got]++
	}
	if counts["a"] != 5 || counts["b"] != 5 {
		t.Fatalf("calls per node %v, want 5 each", counts)
	}
	if n := reg.count(); n != 1 {
		t.Fatalf("%d registry lookups for 10 calls, want 1 (cached)", n)
	}

	// a dies: every call still succeeds, on b.
	a.gs.Stop()
	for i := range 6 {
		got, err := call(t, r, "micro", "echo")
		if err != nil || got != "b" {
			t.Fatalf("call %d with a down: %q %v", i, got, err)
		}
	}
	// b dies too: a clear 503, not a hang.
	b.gs.Stop()
	_, err := call(t, r, "micro", "echo")
	if e := errors.FromError(err, ""); e.Code != 503 || !strings.Contains(e.Detail, "service echo is unavailable") {
		t.Fatalf("all nodes down: %v", err)
	}
}

func TestResolve(t *testing.T) {
	reg := newFakeRegistry()
	a := startNode(t, "a")
	reg.set("micro", service("shared", a))
	reg.set("acme", service("mine", a))
	clock := testkit.NewClock()
	r := New(Config{Registry: reg, Now: clock.Now})
	defer r.Close()
	ctx := context.Background()

	// A namespace sees its own services and those of "micro".
	if route, err := r.Resolve(ctx, "acme", "mine", "Echo.Call"); err != nil || route.Domain != "acme" || route.Stream() {
		t.Fatalf("own service: %v %v", route, err)
	}
	if route, err := r.Resolve(ctx, "acme", "shared", "Echo.Call"); err != nil || route.Domain != "micro" {
		t.Fatalf("shared service: %v %v", route, err)
	}
	if _, err := r.Resolve(ctx, "micro", "mine", "Echo.Call"); !errors.IsServiceNotFound(err) || !strings.Contains(err.Error(), "service not found: mine") {
		t.Fatalf("another namespace's service: %v", err)
	}
	// Streams.
	if route, _ := r.Resolve(ctx, "micro", "shared", "Echo.Stream"); !route.ServerStream || route.ClientStream {
		t.Fatalf("server stream: %+v", route)
	}
	if route, _ := r.Resolve(ctx, "micro", "shared", "Echo.Chat"); !route.ServerStream || !route.ClientStream {
		t.Fatalf("Micro-style stream: %+v", route)
	}
	// Unknown endpoints are named with those that exist.
	_, err := r.Resolve(ctx, "micro", "shared", "Echo.Nope")
	if e := errors.FromError(err, ""); e.Code != 404 || !strings.Contains(e.Detail, "has no endpoint Echo.Nope; its endpoints are Echo.Call, Echo.Chat, Echo.Stream") {
		t.Fatalf("unknown endpoint: %v", err)
	}

	// "Not found" is cached, but a registration clears it at once.
	before := reg.count()
	r.Resolve(ctx, "micro", "late", "Echo.Call")
	r.Resolve(ctx, "micro", "late", "Echo.Call")
	if reg.count() != before+1 {
		t.Fatalf("not found was not cached: %d lookups", reg.count()-before)
	}
	reg.set("micro", service("late", a))
	if _, err := r.Resolve(ctx, "micro", "late", "Echo.Call"); err != nil {
		t.Fatalf("after registering: %v", err)
	}

	// An answer expires with its first node.
	reg.until = clock.Now().Add(time.Second)
	reg.set("micro", service("brief", a))
	r.Resolve(ctx, "micro", "brief", "Echo.Call")
	before = reg.count()
	clock.Advance(2 * time.Second)
	r.Resolve(ctx, "micro", "brief", "Echo.Call")
	if reg.count() != before+1 {
		t.Fatal("an expired answer was served from the cache")
	}
}

// TestLocal: blocks in the local table are routed to the local connection,
// with the stream shape of their gRPC methods.
func TestLocal(t *testing.T) {
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, healthServer{})
	conn := testkit.Dial(t, testkit.Serve(t, gs))

	// Pretend the health service is a block called "health".
	local := func() map[string]grpc.ServiceInfo {
		info := gs.GetServiceInfo()["grpc.health.v1.Health"]
		return map[string]grpc.ServiceInfo{"health.Health": info, "grpc.reflection.v1.ServerReflection": {}}
	}
	reg := newFakeRegistry()
	r := New(Config{Registry: reg, Local: local, LocalConn: conn})
	defer r.Close()
	route, err := r.Resolve(context.Background(), "acme", "health", "Health.Watch")
	if err != nil || !route.Local || route.Conn != conn || !route.ServerStream || route.ClientStream {
		t.Fatalf("local stream route: %+v %v", route, err)
	}
	_, err = r.Resolve(context.Background(), "micro", "health", "Health.Nope")
	if e := errors.FromError(err, ""); e.Code != 404 || !strings.Contains(e.Detail, "Health.Check") {
		t.Fatalf("unknown local endpoint: %v", err)
	}
	if reg.count() != 0 {
		t.Fatal("blocks were looked up in the registry")
	}
	if got := strings.Join(r.LocalServices(), ","); got != "health" {
		t.Fatalf("local services %q", got)
	}

}

type healthServer struct {
	healthpb.UnimplementedHealthServer
}
