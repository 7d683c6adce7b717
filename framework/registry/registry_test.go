package registry_test

import (
	"context"
	"slices"
	"testing"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/registry"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/node/nodetest"
)

type Greeter struct{}

type Req struct{ Name string }
type Rsp struct{ Msg string }

func (*Greeter) Hello(ctx context.Context, req *Req, rsp *Rsp) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

func TestRegistry(t *testing.T) {
	n := nodetest.Start(t)
	r := registry.NewRegistry(n.Client(client.Options{}))
	if _, err := r.GetService("greeter"); err != registry.ErrNotFound {
		t.Fatalf("before it runs: %v", err)
	}

	srv := service.New(service.Name("greeter"), service.Version("v2"), service.Proxy(n.Proxy()),
		service.Credentials("admin", "micro"), service.Logger(nodetest.Quiet()), service.HandleSignal(false))
	if err := srv.Handle(new(Greeter)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	svcs, err := r.GetService("greeter")
	if err != nil || len(svcs) != 1 {
		t.Fatalf("get: %v %v", svcs, err)
	}
	s := svcs[0]
	if s.Version != "v2" || len(s.Nodes) != 1 || s.Nodes[0].Address != srv.Address() || s.Endpoints[0].Name != "Greeter.Hello" {
		t.Fatalf("service %v", s)
	}
	// The package-level functions use the running service's client.
	all, err := registry.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	if !slices.Contains(names, "greeter") || !slices.Contains(names, "store") {
		t.Fatalf("list: %v", names)
	}
	if _, err := registry.GetService("greeter", registry.Domain("elsewhere")); err != registry.ErrNotFound {
		t.Fatalf("another domain: %v", err)
	}
}
