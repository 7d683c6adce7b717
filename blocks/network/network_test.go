package network

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/network"
	regpb "micro.dev/micro/proto/registry"
	"micro.dev/micro/router"
	"micro.dev/micro/schema"
)

// newNetwork returns the network block over a router whose registry (a
// real one, on a database in t.TempDir()) holds services; "health" is a
// block hosted in-process.
func newNetwork(t *testing.T, services ...*regpb.Service) *Network {
	t.Helper()
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{registry.Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg := registry.New(db, auth.Namespaces)
	t.Cleanup(func() { reg.Close() })
	admin := auth.ContextWithAccount(context.Background(), blocktest.Admin)
	for _, s := range services {
		if _, err := reg.Server().Register(admin, s); err != nil {
			t.Fatal(err)
		}
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	local := func() map[string]grpc.ServiceInfo {
		return map[string]grpc.ServiceInfo{"health.Health": gs.GetServiceInfo()["grpc.health.v1.Health"]}
	}
	r := router.New(router.Config{Registry: reg, Local: local})
	n := New(r, auth.Namespaces, Node{ID: "n1", Address: "127.0.0.1:8081"})
	t.Cleanup(func() { n.Close() })
	return n
}

func registered(domain, name, addr string) *regpb.Service {
	return &regpb.Service{Name: name, Version: "latest", Options: &regpb.Options{Domain: domain},
		Endpoints: []*regpb.Endpoint{{Name: "Echo.Call"}},
		Nodes:     []*regpb.Node{{Id: name + "-1", Address: addr}}}
}

func in(ns string) context.Context {
	return grpcmd.NewIncomingContext(context.Background(), grpcmd.Pairs("micro-namespace", ns))
}

// TestAPI: the services and routes of the caller's namespace and
// "micro", blocks through this node's proxy, and this node alone.
func TestAPI(t *testing.T) {
	n := newNetwork(t, registered("acme", "mine", "127.0.0.1:1001"), registered("micro", "shared", "127.0.0.1:1002"),
		registered("other", "theirs", "127.0.0.1:1003"))
	ctx := auth.ContextWithAccount(in("acme"), &auth.Account{ID: "u", Type: auth.TypeUser, Issuer: "acme"})
	svcs, err := n.Services(ctx, &pb.ServicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(svcs.Services, ","); got != "health,mine,shared" {
		t.Fatalf("services %q", got)
	}
	routes, _ := n.Routes(ctx, &pb.RoutesRequest{Query: &pb.Query{Service: "mine"}})
	if len(routes.Routes) != 1 || routes.Routes[0].Address != "127.0.0.1:1001" || routes.Routes[0].Network != "acme" ||
		routes.Routes[0].Link != "network" || routes.Routes[0].Router != "n1" {
		t.Fatalf("routes %v", routes.Routes)
	}
	routes, _ = n.Routes(ctx, &pb.RoutesRequest{Query: &pb.Query{Service: "health"}})
	if len(routes.Routes) != 1 || routes.Routes[0].Address != "127.0.0.1:8081" || routes.Routes[0].Link != "local" {
		t.Fatalf("block routes %v", routes.Routes)
	}
	nodes, _ := n.Nodes(ctx, &pb.NodesRequest{})
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].Id != "n1" || nodes.Nodes[0].Address != "127.0.0.1:8081" {
		t.Fatalf("nodes %v", nodes.Nodes)
	}
	if _, err := n.Connect(ctx, &pb.ConnectRequest{}); errors.Code(err) != 403 {
		t.Fatalf("connect by a user of acme: %v", err)
	}
	admin := auth.ContextWithAccount(context.Background(), blocktest.Admin)
	if _, err := n.Connect(admin, &pb.ConnectRequest{}); errors.Code(err) != 501 {
		t.Fatalf("connect by the admin: %v", err)
	}
	all, _ := n.Routes(admin, &pb.RoutesRequest{Query: &pb.Query{Network: "*"}})
	if len(all.Routes) != 4 {
		t.Fatalf("the admin's routes of every namespace: %v", all.Routes)
	}
}

// TestAccess: the network shows a namespace's services to those the
// registry would: not to anonymous callers, nor to accounts of another
// namespace.
func TestAccess(t *testing.T) {
	n := newNetwork(t, registered("acme", "mine", "127.0.0.1:1001"))
	other := &auth.Account{ID: "u", Type: auth.TypeUser, Issuer: "other"}
	for _, c := range []struct {
		what string
		call func() error
		code int32
	}{
		{"anonymous routes of acme", func() error {
			_, err := n.Routes(in("micro"), &pb.RoutesRequest{Query: &pb.Query{Network: "acme"}})
			return err
		}, 401},
		{"anonymous routes of every namespace", func() error {
			_, err := n.Routes(in("micro"), &pb.RoutesRequest{Query: &pb.Query{Network: "*"}})
			return err
		}, 401},
		{"anonymous services of acme", func() error {
			_, err := n.Services(in("acme"), &pb.ServicesRequest{})
			return err
		}, 401},
		{"anonymous routes in acme", func() error {
			_, err := n.Routes(in("acme"), &pb.RoutesRequest{})
			return err
		}, 401},
		{"other's user, routes of acme", func() error {
			_, err := n.Routes(auth.ContextWithAccount(in("other"), other), &pb.RoutesRequest{Query: &pb.Query{Network: "acme"}})
			return err
		}, 403},
		{"other's user, services in acme", func() error {
			_, err := n.Services(auth.ContextWithAccount(in("acme"), other), &pb.ServicesRequest{})
			return err
		}, 403},
		{"anonymous routes of micro", func() error {
			_, err := n.Routes(in("micro"), &pb.RoutesRequest{})
			return err
		}, 0},
		{"no authorizer", func() error {
			_, err := New(n.router, nil, n.node).Routes(in("micro"), &pb.RoutesRequest{})
			return err
		}, 403},
	} {
		if got := errors.Code(c.call()); got != c.code {
			t.Errorf("%s: code %d, want %d", c.what, got, c.code)
		}
	}
}
