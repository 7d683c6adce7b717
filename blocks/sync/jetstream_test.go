package sync

import (
	"fmt"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/sync"
)

// TestClusterR3: on a three-server cluster with the bucket at R3, a lease
// acquired through one node is held on the others, and tokens handed out
// concurrently through every node are distinct and grow in the order the
// leases were taken.
func TestClusterR3(t *testing.T) {
	servers := natstest.Cluster(t, 3)
	var nodes []*Sync
	for _, srv := range servers {
		s := New(nil, auth.Namespaces, WithJetStream(natstest.Connect(t, srv), 3), WithSweepInterval(time.Hour))
		t.Cleanup(func() { s.Close() })
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, s)
	}
	ctx := as("micro", true)
	a, err := nodes[0].Acquire(ctx, &pb.AcquireRequest{Name: "leader", Holder: "a", TtlMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].Acquire(ctx, &pb.AcquireRequest{Name: "leader", Holder: "b"}); errors.Code(err) != 409 {
		t.Fatalf("acquire through another node of a held lease: %v", err)
	}
	if r, err := nodes[2].Renew(ctx, &pb.RenewRequest{Name: "leader", Id: a.Id}); err != nil || r.Token != a.Token {
		t.Fatalf("renew through a third node: %v %v", r, err)
	}

	// 30 acquires, 10 through each node at once: every token differs and
	// is larger than the first lease's.
	var mu gosync.Mutex
	var tokens []uint64
	var wg gosync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			l, err := nodes[i%3].Acquire(ctx, &pb.AcquireRequest{Name: fmt.Sprintf("job-%d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			tokens = append(tokens, l.Token)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(tokens)
	if len(slices.Compact(slices.Clone(tokens))) != 30 || tokens[0] <= a.Token {
		t.Fatalf("tokens %v: want 30 distinct, all above %d", tokens, a.Token)
	}
	ls, err := nodes[1].Leases(ctx, &pb.LeasesRequest{})
	if err != nil || len(ls.Leases) != 31 {
		t.Fatalf("leases through b: %d %v, want 31", len(ls.GetLeases()), err)
	}
}
