package events

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"micro.dev/micro/internal/natstest"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/events"
)

// TestClusterR3 is the test at the block's level: three nodes of
// an R3 cluster, events published through B, a durable group with members
// on A and C (and one with its only member on A, with manual acks): each
// event reaches each group exactly once, woken across nodes. Then B and C
// publish to one topic at once: the numbers stay contiguous, no gaps, no
// duplicates, and every node reads them all.
func TestClusterR3(t *testing.T) {
	t.Parallel()
	servers := natstest.Cluster(t, 3)
	nodes := make([]*env, len(servers))
	for i, s := range servers {
		nodes[i] = newEnvAt(t, filepath.Join(t.TempDir(), "micro.db"), WithJetStream(natstest.Connect(t, s), 3))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	billing := []*consumer{
		a.consume(t, &pb.ConsumeRequest{Topic: "orders", Group: "billing", AutoAck: true}),
		a.consume(t, &pb.ConsumeRequest{Topic: "orders", Group: "billing", AutoAck: true}),
		c.consume(t, &pb.ConsumeRequest{Topic: "orders", Group: "billing", AutoAck: true}),
		c.consume(t, &pb.ConsumeRequest{Topic: "orders", Group: "billing", AutoAck: true}),
	}
	audit := a.consume(t, &pb.ConsumeRequest{Topic: "orders", Group: "audit", AckWait: int64(time.Hour)})
	a.waitMembers(t, "orders", "billing", 2)
	c.waitMembers(t, "orders", "billing", 2)
	a.waitMembers(t, "orders", "audit", 1)

	const n = 200
	for i := 1; i <= n; i++ {
		if seq := b.publish(t, "orders", strconv.Itoa(i)); seq != uint64(i) {
			t.Fatalf("publish %d got sequence %d", i, seq)
		}
	}

	merged := make(chan uint64, 2*n)
	for _, m := range billing {
		go func() {
			for ev := range m.events {
				merged <- ev.Sequence
			}
		}()
	}
	var got []uint64
	for len(got) < n {
		select {
		case seq := <-merged:
			got = append(got, seq)
		case <-time.After(15 * time.Second):
			t.Fatalf("billing got %d of %d events", len(got), n)
		}
	}
	// Nothing more comes: each event went to one member only.
	select {
	case seq := <-merged:
		t.Fatalf("billing got event %d twice", seq)
	case <-time.After(1500 * time.Millisecond):
	}
	slices.Sort(got)
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("billing got %v..., not each of 1..%d once", got[:min(i+3, len(got))], n)
		}
	}
	for i := 1; i <= n; i++ {
		ev := audit.next()
		if ev.Sequence != uint64(i) {
			t.Fatalf("audit got %d, want %d", ev.Sequence, i)
		}
		audit.ack(ev.Id, true)
	}

	// Two nodes publishing to one topic at once.
	var wg sync.WaitGroup
	for _, p := range []*env{b, c} {
		wg.Go(func() {
			for i := range 50 {
				p.publish(t, "race", fmt.Sprint(i))
			}
		})
	}
	wg.Wait()
	for i, node := range nodes {
		// A node may read from a replica a moment behind.
		var evs []*pb.Event
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("node %d reads 100 events", i), func() bool {
			evs = node.read(t, "race")
			return len(evs) == 100
		})
		for j, ev := range evs {
			if ev.Sequence != uint64(j+1) {
				t.Fatalf("node %d: event %d has sequence %d", i, j, ev.Sequence)
			}
		}
	}
}
