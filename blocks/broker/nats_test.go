package broker

import (
	"strconv"
	"testing"
	"time"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/broker"
)

// clusterEnvs serves one broker per server of a three-server NATS
// cluster, as three clustered micro nodes do.
func clusterEnvs(t *testing.T, opts ...Option) []*env {
	t.Helper()
	var envs []*env
	for _, s := range natstest.Cluster(t, 3) {
		nc := natstest.Connect(t, s).Conn()
		envs = append(envs, newEnv(t, append([]Option{WithNATS(nc)}, opts...)...))
	}
	return envs
}

// waitRoutes publishes probes on from until each of subs has one, then
// drains them: interest crosses routes a moment after a subscription, as
// in any NATS cluster.
func waitRoutes(t *testing.T, from *env, topic string, subs ...*sub) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	heard := make([]bool, len(subs))
	for all := false; !all; {
		from.publish(t, t.Context(), topic, "probe")
		time.Sleep(20 * time.Millisecond)
		all = true
		for i, s := range subs {
			select {
			case <-s.msgs:
				heard[i] = true
			default:
			}
			all = all && heard[i]
		}
		if !all && time.Now().After(deadline) {
			t.Fatalf("probes on %s did not reach every subscriber in 10s: %v", topic, heard)
		}
	}
	for _, s := range subs {
		for drained := false; !drained; {
			select {
			case <-s.msgs:
			case <-time.After(200 * time.Millisecond):
				drained = true
			}
		}
	}
}

// TestClusterPublishReachesEveryNode: a message published on one node
// reaches a subscriber on each other node, in its namespace only.
func TestClusterPublishReachesEveryNode(t *testing.T) {
	envs := clusterEnvs(t)
	ctx := t.Context()
	a, _ := envs[0].subscribe(t, ctx, "news", "", true)
	c, _ := envs[2].subscribe(t, ctx, "news", "", true)
	other, _ := envs[2].subscribe(t, metadata.Set(ctx, metadata.Namespace, "tenant"), "news", "", true)
	waitRoutes(t, envs[1], "news", a, c)

	envs[1].publish(t, ctx, "news", "hello")
	for name, s := range map[string]*sub{"node a": a, "node c": c} {
		if m := s.next(); string(m.Body) != "hello" || m.Header["Micro-Topic"] != "news" {
			t.Fatalf("%s: %v", name, m)
		}
	}
	select {
	case m := <-other.msgs:
		t.Fatalf("another namespace's subscriber got %v", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestClusterQueueSpreadsOnce: a queue with members on two nodes gets
// each message published on a third exactly once, spread over both.
func TestClusterQueueSpreadsOnce(t *testing.T) {
	envs := clusterEnvs(t)
	ctx := t.Context()
	a, _ := envs[0].subscribe(t, ctx, "jobs", "workers", true)
	c, _ := envs[2].subscribe(t, ctx, "jobs", "workers", true)
	// Interest from both nodes has crossed once a plain subscriber on
	// each of them hears the publisher's node.
	pa, _ := envs[0].subscribe(t, ctx, "jobs", "", true)
	pc, _ := envs[2].subscribe(t, ctx, "jobs", "", true)
	waitRoutes(t, envs[1], "jobs", pa, pc, a, c)

	const n = 200
	for i := range n {
		envs[1].publish(t, ctx, "jobs", strconv.Itoa(i))
	}
	seen := map[string]int{}
	got := map[string]int{}
	deadline := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case m := <-a.msgs:
			seen[string(m.Body)]++
			got["a"]++
		case m := <-c.msgs:
			seen[string(m.Body)]++
			got["c"]++
		case <-deadline:
			t.Fatalf("%d of %d messages arrived", len(seen), n)
		}
	}
	// Nothing twice.
	select {
	case m := <-a.msgs:
		t.Fatalf("extra message on a: %s", m.Body)
	case m := <-c.msgs:
		t.Fatalf("extra message on c: %s", m.Body)
	case <-time.After(300 * time.Millisecond):
	}
	for body, k := range seen {
		if k != 1 {
			t.Fatalf("message %s delivered %d times", body, k)
		}
	}
	if got["a"] == 0 || got["c"] == 0 {
		t.Fatalf("the queue was not spread over both nodes: %v", got)
	}
}

// TestClusterSlowSubscriberEnds: the block's rule holds over NATS too: a
// subscriber that stops reading is ended with a 429 once its buffer is
// full, and the publisher on another node is never held up.
func TestClusterSlowSubscriberEnds(t *testing.T) {
	envs := clusterEnvs(t, WithBuffer(4))
	ctx := t.Context()
	fast, _ := envs[0].subscribe(t, ctx, "big", "", true)
	_, slow := envs[0].subscribe(t, ctx, "big", "", false) // never reads until the end
	waitRoutes(t, envs[1], "big", fast)

	body := make([]byte, 64<<10) // a few fill the transport's window
	const n = 40
	for range n {
		if _, err := envs[1].client.Publish(ctx, &pb.PublishRequest{Topic: "big", Message: &pb.Message{Body: body}}); err != nil {
			t.Fatal(err)
		}
		fast.next()
	}
	var err error
	got := 0
	for {
		if _, err = slow.Recv(); err != nil {
			break
		}
		got++
	}
	if errors.FromError(err, "").Code != 429 || got >= n {
		t.Fatalf("slow subscriber: %d messages then %v", got, err)
	}
}
