package testkit

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestClock(t *testing.T) {
	c := NewClock()
	start := c.Now()
	if !start.Equal(time.Unix(1_700_000_000, 0)) || !c.Now().Equal(start) {
		t.Fatalf("a new clock reads %v, then %v", start, c.Now())
	}
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(start); got != 90*time.Second {
		t.Fatalf("advanced by %v, want 90s", got)
	}
}

// TestServe: the server answers on loopback, and is gone once the test
// that served it has ended.
func TestServe(t *testing.T) {
	var addr string
	t.Run("serve", func(t *testing.T) {
		gs := grpc.NewServer()
		healthpb.RegisterHealthServer(gs, health.NewServer())
		addr = Serve(t, gs)
		conn := Dial(t, addr)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("served on %s, want loopback", addr)
		}
		rsp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || rsp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health check: %v %v", rsp, err)
		}
	})
	conn := Dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("the server still answers after its test ended")
	}
}

// recorder is a testing.TB that records a failure and ends the goroutine,
// as Fatalf does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	run := func(within time.Duration, cond func() bool) string {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); Eventually(r, within, "the thing", cond) }()
		<-done
		return r.failed
	}
	n := 0
	if failed := run(5*time.Second, func() bool { n++; return n == 3 }); failed != "" || n != 3 {
		t.Fatalf("a condition that holds on the third poll: %q after %d polls", failed, n)
	}
	if failed := run(100*time.Millisecond, func() bool { return false }); failed != "not within 100ms: the thing" {
		t.Fatalf("a condition that never holds: %q", failed)
	}
}
