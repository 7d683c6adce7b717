package service

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"micro.dev/micro/internal/testkit"
	authpb "micro.dev/micro/proto/auth"
	regpb "micro.dev/micro/proto/registry"
	pb "micro.dev/micro/proto/store"
)

// fakeProxy stands in for the micro proxy: a registry that records what it
// is told and the authorization of each call, and optionally an auth
// service handing out tokens.
type fakeProxy struct {
	regpb.UnimplementedRegistryServer
	authpb.UnimplementedAuthServer

	mu           sync.Mutex
	registered   []*regpb.Service
	deregistered []*regpb.Service
	auths        []string
	namespaces   []string
	tokens       int
}

func (f *fakeProxy) note(ctx context.Context) {
	md, _ := grpcmd.FromIncomingContext(ctx)
	f.auths = append(f.auths, strings.Join(md.Get("authorization"), ","))
	f.namespaces = append(f.namespaces, strings.Join(md.Get("micro-namespace"), ","))
}

func (f *fakeProxy) Register(ctx context.Context, s *regpb.Service) (*regpb.EmptyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note(ctx)
	f.registered = append(f.registered, s)
	return &regpb.EmptyResponse{}, nil
}

func (f *fakeProxy) Deregister(ctx context.Context, s *regpb.Service) (*regpb.EmptyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note(ctx)
	f.deregistered = append(f.deregistered, s)
	return &regpb.EmptyResponse{}, nil
}

func (f *fakeProxy) Token(ctx context.Context, req *authpb.TokenRequest) (*authpb.TokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	if req.Id != "svc" || req.Secret != "s3cret" || req.Options.GetNamespace() != "acme" {
		return nil, status.Error(codes.Unauthenticated, "bad credentials")
	}
	now := time.Now().Unix()
	return &authpb.TokenResponse{Token: &authpb.Token{AccessToken: "tok", RefreshToken: "ref", Created: now, Expiry: now + 3600}}, nil
}

func (f *fakeProxy) counts() (reg, dereg int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.registered), len(f.deregistered)
}

func startProxy(t *testing.T, withAuth bool) (*fakeProxy, string) {
	t.Helper()
	f := &fakeProxy{}
	gs := grpc.NewServer()
	regpb.RegisterRegistryServer(gs, f)
	if withAuth {
		authpb.RegisterAuthServer(gs, f)
	}
	return f, testkit.Serve(t, gs)
}

// Store is a handler with one endpoint.
type Store struct{}

func (*Store) Read(ctx context.Context, req *pb.ReadRequest, rsp *pb.ReadResponse) error { return nil }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestLifecycle: the environment overrides the code; Start registers the
// node with its endpoints and TTL, heartbeats follow, Stop deregisters.
func TestLifecycle(t *testing.T) {
	f, addr := startProxy(t, false)
	t.Setenv("MICRO_PROXY", addr)
	t.Setenv("MICRO_SERVICE_NAME", "fromenv")
	t.Setenv("MICRO_SERVICE_VERSION", "v2")
	t.Setenv("MICRO_NAMESPACE", "acme")
	t.Setenv("MICRO_REGISTER_TTL", "7")
	t.Setenv("MICRO_REGISTER_INTERVAL", "50ms")

	srv := New(Name("fromcode"), Logger(quiet()), Metadata(map[string]string{"team": "x"}))
	if err := srv.Handle(new(Store)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "a heartbeat", func() bool { n, _ := f.counts(); return n >= 3 })

	f.mu.Lock()
	reg := f.registered[0]
	ns := f.namespaces[0]
	f.mu.Unlock()
	if reg.Name != "fromenv" || reg.Version != "v2" || reg.Metadata["team"] != "x" {
		t.Fatalf("registered %v", reg)
	}
	if reg.Options.GetTtl() != 7 || reg.Options.GetDomain() != "acme" || ns != "acme" {
		t.Fatalf("options %v, namespace %q", reg.Options, ns)
	}
	if len(reg.Endpoints) != 1 || reg.Endpoints[0].Name != "Store.Read" || reg.Endpoints[0].Request.GetName() != "ReadRequest" {
		t.Fatalf("endpoints %v", reg.Endpoints)
	}
	node := reg.Nodes[0]
	if node.Address != srv.Address() || !strings.HasPrefix(node.Id, "fromenv-") || node.Metadata["protocol"] != "grpc" {
		t.Fatalf("node %v, listening on %s", node, srv.Address())
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_, d := f.counts()
	if d != 1 || f.deregistered[0].Nodes[0].Id != node.Id {
		t.Fatalf("deregistered %v", f.deregistered)
	}
	if c, err := net.DialTimeout("tcp", node.Address, time.Second); err == nil {
		c.Close()
		t.Fatal("server still listening after Stop")
	}
	if err := srv.Stop(); err != nil { // twice is harmless
		t.Fatal(err)
	}
}

// TestToken: with credentials, every call (registration included) carries
// the token the auth service gave for them.
func TestToken(t *testing.T) {
	f, addr := startProxy(t, true)
	t.Setenv("MICRO_PROXY", addr)
	t.Setenv("MICRO_CLIENT_ID", "svc")
	t.Setenv("MICRO_CLIENT_SECRET", "s3cret")
	srv := New(Name("tokened"), Namespace("acme"), Logger(quiet()))
	if err := srv.Handle(new(Store)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens != 1 {
		t.Fatalf("%d token requests, want 1 (the token is reused until due)", f.tokens)
	}
	for i, a := range f.auths {
		if a != "Bearer tok" {
			t.Fatalf("call %d authorization %q", i, a)
		}
	}
}

// TestNoAuthService: credentials, but a server without auth: anonymous.
func TestNoAuthService(t *testing.T) {
	f, addr := startProxy(t, false)
	t.Setenv("MICRO_PROXY", addr)
	srv := New(Name("anon"), Credentials("svc", "s3cret"), Logger(quiet()))
	if err := srv.Handle(new(Store)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auths) == 0 || f.auths[0] != "" {
		t.Fatalf("authorizations %q, want none", f.auths)
	}
}

func TestStartErrors(t *testing.T) {
	_, addr := startProxy(t, false)
	t.Setenv("MICRO_PROXY", addr)
	if err := New(Logger(quiet())).Start(); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Fatalf("no name: %v", err)
	}
	t.Setenv("MICRO_REGISTER_TTL", "soon")
	if err := New(Name("x"), Logger(quiet())).Start(); err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Fatalf("bad TTL: %v", err)
	}
	t.Setenv("MICRO_REGISTER_TTL", "")
	t.Setenv("MICRO_PROXY", "127.0.0.1:1")
	srv := New(Name("x"), Logger(quiet()))
	srv.Handle(new(Store))
	if err := srv.Start(); err == nil || !strings.Contains(err.Error(), "registering x") {
		t.Fatalf("no proxy: %v", err)
	}
}
