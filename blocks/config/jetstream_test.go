package config

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/config"
)

// TestClusterR3 runs the block on three nodes of an R3 cluster, each with
// its own database file: a write through one is read and watched through
// another, writers on two nodes racing on one namespace all land with
// contiguous revisions, and a secret set through one node opens on every
// node (one key, created once).
func TestClusterR3(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	nodes := make([]*env, len(servers))
	for i, s := range servers {
		nodes[i] = newEnvAt(t, filepath.Join(t.TempDir(), "micro.db"), WithJetStream(natstest.Connect(t, s), 3))
		if err := nodes[i].config.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	watched, _ := watchFrom(t, c, ctx, &pb.WatchRequest{Path: "app"})
	if first := nextSeen(t, watched, "first"); first != (seen{0, "null"}) {
		t.Fatalf("first: %+v", first)
	}

	a.set(t, "app.greeting", `"hi"`, false)
	if got := c.get(t, "app", false); got != `{"greeting":"hi"}` {
		t.Fatalf("read through another node: %s", got)
	}
	if got := nextSeen(t, watched, "watched through another node"); got != (seen{1, `{"greeting":"hi"}`}) {
		t.Fatalf("watch: %+v", got)
	}

	// Two nodes writing the same namespace at once: compare-and-set keeps
	// every change, and the watcher on the third sees each revision once.
	const each = 15
	var wg sync.WaitGroup
	for i, n := range []*env{a, b} {
		wg.Go(func() {
			for j := range each {
				n.set(t, fmt.Sprintf("app.w%d", i), fmt.Sprint(j), false)
			}
		})
	}
	wg.Wait()
	for r := uint64(2); r <= 1+2*each; r++ {
		if got := nextSeen(t, watched, "racing writes"); got.rev != r {
			t.Fatalf("watch revision %d, want %d", got.rev, r)
		}
	}
	want := fmt.Sprintf(`{"greeting":"hi","w0":%d,"w1":%d}`, each-1, each-1)
	for i, n := range nodes {
		if got := n.get(t, "app", false); got != want {
			t.Fatalf("node %d: %s, want %s", i, got, want)
		}
	}

	// One secret key for the cluster, however many nodes create it at once.
	var keys sync.WaitGroup
	for i, n := range nodes {
		keys.Go(func() { n.set(t, fmt.Sprintf("vault.k%d", i), fmt.Sprintf(`"s%d"`, i), true) })
	}
	keys.Wait()
	for i, n := range nodes {
		if got := n.get(t, "vault", true); got != `{"k0":"s0","k1":"s1","k2":"s2"}` {
			t.Fatalf("node %d reveals %s", i, got)
		}
	}
	if !strings.Contains(c.get(t, "vault", false), "[secret]") {
		t.Fatal("secrets not masked")
	}
}
