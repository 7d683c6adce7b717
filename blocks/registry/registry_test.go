package registry

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/registry"
	"micro.dev/micro/schema"
)

type env struct {
	db     *schema.DB
	reg    *Registry
	clock  *testkit.Clock
	client pb.RegistryClient
}

// newEnv serves a registry whose every caller is the default admin.
func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	return newEnvAs(t, blocktest.Admin, opts...)
}

// newEnvAs serves a registry, checked by Micro's namespace rule, whose every
// caller is acc (nil: anonymous).
func newEnvAs(t *testing.T, acc *auth.Account, opts ...Option) *env {
	t.Helper()
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, clock: testkit.NewClock()}
	e.reg = New(db, auth.Namespaces, append([]Option{WithClock(e.clock.Now), WithSweepInterval(time.Hour)}, opts...)...)
	t.Cleanup(func() { e.reg.Close() })
	if err := e.reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	gs := grpc.NewServer(blocktest.As(acc)...)
	e.reg.Register(gs)
	e.client = pb.NewRegistryClient(testkit.Dial(t, testkit.Serve(t, gs)))
	return e
}

// eachBackend runs test over the SQLite backend and over the JetStream
// one (one embedded server), with be the options selecting it.
func eachBackend(t *testing.T, test func(t *testing.T, be ...Option)) {
	blocktest.EachBackend(t, func(js jetstream.JetStream) []Option {
		return []Option{WithJetStream(js, 1), WithClusterNode("n0")}
	}, test)
}

func svc(name, version string, ttl int64, nodes ...string) *pb.Service {
	s := &pb.Service{Name: name, Version: version, Options: &pb.Options{Ttl: ttl},
		Endpoints: []*pb.Endpoint{{Name: "Foo.Call", Request: &pb.Value{Name: "Req", Type: "Req",
			Values: []*pb.Value{{Name: "name", Type: "string"}}}}}}
	for i, id := range nodes {
		s.Nodes = append(s.Nodes, &pb.Node{Id: id, Address: "127.0.0.1:" + string(rune('1'+i)) + "000"})
	}
	return s
}

func inDomain(ctx context.Context, ns string) context.Context {
	return grpcmd.AppendToOutgoingContext(ctx, "micro-namespace", ns)
}

func wantCode(t *testing.T, err error, code int32, what string) {
	t.Helper()
	if got := errors.FromError(err, "").Code; got != code {
		t.Fatalf("%s: got %v (code %d), want code %d", what, err, got, code)
	}
}

func TestRegisterGetListDeregister(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := context.Background()
		if _, err := e.client.Register(ctx, svc("foo", "", 0, "foo-1", "foo-2")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Register(ctx, svc("bar", "v2", 0, "bar-1")); err != nil {
			t.Fatal(err)
		}
		rsp, err := e.client.GetService(ctx, &pb.GetRequest{Service: "foo"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rsp.Services) != 1 || rsp.Services[0].Version != "latest" || len(rsp.Services[0].Nodes) != 2 {
			t.Fatalf("get foo: %v", rsp)
		}
		got := rsp.Services[0]
		if got.Options.GetDomain() != "micro" || got.Endpoints[0].Request.Values[0].Name != "name" {
			t.Fatalf("domain or endpoints lost: %v", got)
		}

		list, err := e.client.ListServices(ctx, &pb.ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Services) != 2 || list.Services[0].Name != "bar" || list.Services[1].Name != "foo" {
			t.Fatalf("list: %v", list.Services)
		}

		// Another domain sees neither; the wildcard sees both.
		other, err := e.client.ListServices(inDomain(ctx, "acme"), &pb.ListRequest{})
		if err != nil || len(other.Services) != 0 {
			t.Fatalf("acme list: %v %v", other, err)
		}
		_, err = e.client.GetService(inDomain(ctx, "acme"), &pb.GetRequest{Service: "foo"})
		wantCode(t, err, 404, "foo in acme")
		all, err := e.client.ListServices(ctx, &pb.ListRequest{Options: &pb.Options{Domain: "*"}})
		if err != nil || len(all.Services) != 2 {
			t.Fatalf("wildcard list: %v %v", all, err)
		}

		// Removing one node leaves the other; removing the last removes the service.
		if _, err := e.client.Deregister(ctx, &pb.Service{Name: "foo", Nodes: []*pb.Node{{Id: "foo-1"}}}); err != nil {
			t.Fatal(err)
		}
		rsp, err = e.client.GetService(ctx, &pb.GetRequest{Service: "foo"})
		if err != nil || len(rsp.Services[0].Nodes) != 1 || rsp.Services[0].Nodes[0].Id != "foo-2" {
			t.Fatalf("after deregistering foo-1: %v %v", rsp, err)
		}
		if _, err := e.client.Deregister(ctx, &pb.Service{Name: "foo", Nodes: []*pb.Node{{Id: "foo-2"}}}); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.GetService(ctx, &pb.GetRequest{Service: "foo"})
		wantCode(t, err, 404, "foo after deregistering every node")
		// Deregistering again is not an error.
		if _, err := e.client.Deregister(ctx, &pb.Service{Name: "foo"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNodesExpire: a node past its TTL is hidden at once and, once swept,
// announced as deleted; a heartbeat keeps it alive.
func TestNodesExpire(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := context.Background()
		var mu sync.Mutex
		var actions []string
		e.reg.Subscribe(func(r *pb.Result) {
			mu.Lock()
			actions = append(actions, r.Action+" "+r.Service.Name)
			mu.Unlock()
		})

		if _, err := e.client.Register(ctx, svc("foo", "", 10, "foo-1")); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(8 * time.Second)
		if _, err := e.client.Register(ctx, svc("foo", "", 10, "foo-1")); err != nil { // heartbeat
			t.Fatal(err)
		}
		e.clock.Advance(8 * time.Second)
		if _, err := e.client.GetService(ctx, &pb.GetRequest{Service: "foo"}); err != nil {
			t.Fatalf("alive thanks to the heartbeat: %v", err)
		}
		e.clock.Advance(3 * time.Second)
		_, err := e.client.GetService(ctx, &pb.GetRequest{Service: "foo"})
		wantCode(t, err, 404, "expired, before any sweep")
		if svcs, until, err := e.reg.Lookup(ctx, "micro", "foo"); err != nil || len(svcs) != 0 || !until.IsZero() {
			t.Fatalf("lookup after expiry: %v %v %v", svcs, until, err)
		}

		if err := e.reg.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := []string{"create foo", "delete foo"}
		if len(actions) != 2 || actions[0] != want[0] || actions[1] != want[1] {
			t.Fatalf("events %v, want %v (a heartbeat that changes nothing is not announced)", actions, want)
		}
	})
}

// TestSweepKeepsLiveNodes: sweeping one expired node of two is an update.
func TestSweepKeepsLiveNodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := context.Background()
		if _, err := e.client.Register(ctx, svc("foo", "", 5, "foo-1")); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(3 * time.Second)
		if _, err := e.client.Register(ctx, &pb.Service{Name: "foo", Options: &pb.Options{Ttl: 5},
			Endpoints: svc("foo", "", 0).Endpoints, Nodes: []*pb.Node{{Id: "foo-2", Address: "127.0.0.1:9"}}}); err != nil {
			t.Fatal(err)
		}
		svcs, until, err := e.reg.Lookup(ctx, "micro", "foo")
		if err != nil || len(svcs) != 1 || len(svcs[0].Nodes) != 2 {
			t.Fatalf("lookup: %v %v", svcs, err)
		}
		if want := e.clock.Now().Add(2 * time.Second); !until.Equal(want) {
			t.Fatalf("valid until %v, want the first expiry %v", until, want)
		}
		var got []*pb.Result
		e.reg.Subscribe(func(r *pb.Result) { got = append(got, r) })
		e.clock.Advance(3 * time.Second)
		if err := e.reg.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Action != "update" || len(got[0].Service.Nodes) != 1 || got[0].Service.Nodes[0].Id != "foo-2" {
			t.Fatalf("sweep events: %v", got)
		}
	})
}

func TestWatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := e.client.Watch(ctx, &pb.WatchRequest{Service: "foo"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Header(); err != nil { // subscribed
			t.Fatal(err)
		}
		steps := []func() error{
			func() error { _, err := e.client.Register(ctx, svc("bar", "", 0, "bar-1")); return err }, // filtered out
			func() error { _, err := e.client.Register(ctx, svc("foo", "", 0, "foo-1")); return err },
			func() error { _, err := e.client.Register(ctx, svc("foo", "", 0, "foo-1")); return err }, // heartbeat
			func() error { _, err := e.client.Register(ctx, svc("foo", "", 0, "foo-1", "foo-2")); return err },
			func() error { _, err := e.client.Deregister(ctx, &pb.Service{Name: "foo"}); return err },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []struct {
			action string
			nodes  int
		}{{"create", 1}, {"update", 2}, {"delete", 2}} {
			res, err := w.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != want.action || res.Service.Name != "foo" || len(res.Service.Nodes) != want.nodes {
				t.Fatalf("got %s %s with %d nodes, want %s with %d", res.Action, res.Service.Name, len(res.Service.Nodes), want.action, want.nodes)
			}
		}
	})
}

func TestBadRegistrations(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, append(be, WithLocal(func() []*pb.Service {
			return []*pb.Service{{Name: "store", Nodes: []*pb.Node{{Id: "store-local", Address: "127.0.0.1:8081"}}}}
		}))...)
		ctx := context.Background()
		big := svc("big", "", 0, "big-1")
		big.Metadata = map[string]string{"pad": string(make([]byte, MaxRegistrationSize))}
		cases := []struct {
			name string
			svc  *pb.Service
			code int32
		}{
			{"no name", svc("", "", 0, "x-1"), 400},
			{"bad name", svc("foo/bar", "", 0, "x-1"), 400},
			{"empty label", svc("foo..bar", "", 0, "x-1"), 400},
			{"no nodes", svc("foo", "", 0), 400},
			{"node without id", &pb.Service{Name: "foo", Nodes: []*pb.Node{{Address: "127.0.0.1:1"}}}, 400},
			{"bad address", &pb.Service{Name: "foo", Nodes: []*pb.Node{{Id: "a", Address: "localhost"}}}, 400},
			{"bad port", &pb.Service{Name: "foo", Nodes: []*pb.Node{{Id: "a", Address: "127.0.0.1:99999"}}}, 400},
			{"negative ttl", svc("foo", "", -1, "x-1"), 400},
			{"every domain", &pb.Service{Name: "foo", Options: &pb.Options{Domain: "*"}, Nodes: svc("foo", "", 0, "a").Nodes}, 400},
			{"bad version", svc("foo", "v 1", 0, "x-1"), 400},
			{"too large", big, 400},
			{"block name", svc("store", "", 0, "x-1"), 409},
		}
		for _, c := range cases {
			_, err := e.client.Register(ctx, c.svc)
			wantCode(t, err, c.code, c.name)
		}
		_, err := e.client.GetService(ctx, &pb.GetRequest{})
		wantCode(t, err, 400, "get without a name")

		// The block is listed in every domain, and found by name.
		list, err := e.client.ListServices(inDomain(ctx, "acme"), &pb.ListRequest{})
		if err != nil || len(list.Services) != 1 || list.Services[0].Name != "store" {
			t.Fatalf("list with a block: %v %v", list, err)
		}
		if rsp, err := e.client.GetService(ctx, &pb.GetRequest{Service: "store"}); err != nil || rsp.Services[0].Nodes[0].Id != "store-local" {
			t.Fatalf("get a block: %v %v", rsp, err)
		}
	})
}

// TestSubscribeIsSynchronous: by the time Register returns, subscribers
// have seen the change, so a cache they keep is never stale after it.
func TestSubscribeIsSynchronous(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		var seen []string
		var mu sync.Mutex
		e.reg.Subscribe(func(r *pb.Result) { mu.Lock(); seen = append(seen, r.Service.Name); mu.Unlock() })
		for _, name := range []string{"a", "b", "c"} {
			if _, err := e.client.Register(context.Background(), svc(name, "", 0, name+"-1")); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n == 0 || seen[n-1] != name {
				t.Fatalf("after registering %s subscribers saw %v", name, seen)
			}
		}
	})
}

func TestAccess(t *testing.T) {
	acmeUser := &auth.Account{ID: "u", Type: auth.TypeUser, Issuer: "acme"}
	acmeService := &auth.Account{ID: "s", Type: auth.TypeService, Issuer: "acme", Scopes: []string{"service"}}
	cases := []struct {
		acc    *auth.Account
		domain string
		write  bool
		code   int32
	}{
		{nil, "micro", false, 0},
		{nil, "micro", true, 401},
		{nil, "acme", false, 401},
		{acmeUser, "acme", false, 0},
		{acmeUser, "acme", true, 403},
		{acmeService, "acme", true, 0},
		{acmeService, "other", false, 403},
		{acmeService, "*", false, 403},
		{blocktest.Admin, "*", false, 0},
		{blocktest.Admin, "acme", true, 0},
	}
	for i, c := range cases {
		ctx := context.Background()
		if c.acc != nil {
			ctx = auth.ContextWithAccount(ctx, c.acc)
		}
		if got := errors.Code(Access(ctx, auth.Namespaces, c.domain, c.write)); got != c.code {
			t.Errorf("case %d (%v on %s, write %v): code %d, want %d", i, c.acc, c.domain, c.write, got, c.code)
		}
	}

	// Wired in, the check answers calls.
	e := newEnvAs(t, nil)
	_, err := e.client.Register(context.Background(), svc("foo", "", 0, "foo-1"))
	wantCode(t, err, 401, "anonymous register with access checks")
	if _, err := e.client.ListServices(context.Background(), &pb.ListRequest{}); err != nil {
		t.Fatalf("anonymous list of micro: %v", err)
	}
}
