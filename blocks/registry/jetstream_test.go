package registry

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/registry"
)

// clusterNode is a registry on one server of a cluster, recording the
// changes its subscribers hear.
type clusterNode struct {
	reg *Registry
	mu  sync.Mutex
	got []string
}

func startClusterNode(t *testing.T, srv int, servers []*server.Server, name string) *clusterNode {
	t.Helper()
	n := &clusterNode{}
	n.reg = New(nil, auth.Namespaces, WithJetStream(natstest.Connect(t, servers[srv]), 3), WithClusterNode(name), WithSweepInterval(time.Hour))
	t.Cleanup(func() { n.reg.Close() })
	n.reg.Subscribe(func(r *pb.Result) {
		n.mu.Lock()
		n.got = append(n.got, r.Action+" "+r.Service.Name)
		n.mu.Unlock()
	})
	if err := n.reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *clusterNode) heard(what string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.got, what)
}

// eventually polls cond for up to 10s: another node learns of a write
// through the bucket's watch, a moment after the write.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
	}
}

func names(t *testing.T, r *Registry) []string {
	t.Helper()
	svcs, err := r.List(context.Background(), AnyDomain)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range svcs {
		out = append(out, s.Name)
	}
	return out
}

// TestClusterR3: on a three-server cluster with the bucket at R3, what
// registers through one node is listed and announced on another, and a
// node's restart forgets only the services registered through it.
func TestClusterR3(t *testing.T) {
	servers := natstest.Cluster(t, 3)
	a := startClusterNode(t, 0, servers, "a")
	b := startClusterNode(t, 1, servers, "b")
	ctx := t.Context()
	reg := func(r *Registry, name string) {
		t.Helper()
		if _, err := r.Server().Register(auth.ContextWithAccount(ctx, blocktest.Admin), svc(name, "", 60, name+"-1")); err != nil {
			t.Fatal(err)
		}
	}
	reg(a.reg, "foo")
	reg(b.reg, "bar")
	eventually(t, "b lists foo, registered through a", func() bool { return slices.Equal(names(t, b.reg), []string{"bar", "foo"}) })
	eventually(t, "a lists bar, registered through b", func() bool { return slices.Equal(names(t, a.reg), []string{"bar", "foo"}) })
	eventually(t, "b's watchers hear foo created through a", func() bool { return b.heard("create foo") })
	eventually(t, "a's watchers hear bar created through b", func() bool { return a.heard("create bar") })

	// Node a restarts (here: on another server): foo, registered through
	// its previous run, is forgotten; bar, alive through b, is not.
	a.reg.Close()
	a2 := startClusterNode(t, 2, servers, "a")
	if got := names(t, a2.reg); !slices.Equal(got, []string{"bar"}) {
		t.Fatalf("after a's restart, a lists %v; want [bar]", got)
	}
	eventually(t, "b hears foo deleted by a's restart", func() bool { return b.heard("delete foo") })
	if got := names(t, b.reg); !slices.Equal(got, []string{"bar"}) {
		t.Fatalf("after a's restart, b lists %v; want [bar]", got)
	}

	// A deregistration through b is heard on a.
	if _, err := b.reg.Server().Deregister(auth.ContextWithAccount(ctx, blocktest.Admin), &pb.Service{Name: "bar"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a2 hears bar deleted through b", func() bool { return a2.heard("delete bar") })
	eventually(t, "a2 lists nothing", func() bool { return len(names(t, a2.reg)) == 0 })
}
