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

// Watch reports a service's registration and deregistration, and only
// the service asked for.
func TestWatch(t *testing.T) {
	n := nodetest.Start(t)
	r := registry.NewRegistry(n.Client(client.Options{}))
	w, err := r.Watch(registry.WatchService("watched"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	start := func(name string) *service.Service {
		srv := service.New(service.Name(name), service.Proxy(n.Proxy()), service.Credentials("admin", "micro"),
			service.Logger(nodetest.Quiet()), service.HandleSignal(false))
		if err := srv.Handle(new(Greeter)); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	other := start("unwatched")
	defer other.Stop()
	srv := start("watched")
	res, err := w.Next()
	if err != nil || res.Action != "create" || res.Service.GetName() != "watched" {
		t.Fatalf("first change: %v, %v; want watched's create", res, err)
	}
	srv.Stop()
	res, err = w.Next()
	if err != nil || res.Action != "delete" || res.Service.GetName() != "watched" {
		t.Fatalf("after Stop: %v, %v; want watched's delete", res, err)
	}
	w.Stop()
	if _, err := w.Next(); err != registry.ErrWatcherStopped {
		t.Errorf("Next after Stop: %v", err)
	}
	// Another namespace's changes are not the caller's to watch.
	member := n.ServiceAccount("team", "svc")
	if _, err := registry.NewRegistry(member).Watch(registry.WatchDomain("micro2")); err == nil {
		t.Error("a service of team watched namespace micro2")
	}
}
