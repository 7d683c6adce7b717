package proxy

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"micro.dev/micro/internal/testkit"
)

// TestStreamsPerConnectionAreBounded: a client opening more streams on one
// connection than the proxy allows gets the extra one held, with no handler
// (goroutine) running for it, until one of its streams ends.
func TestStreamsPerConnectionAreBounded(t *testing.T) {
	const limit = 3
	o := &recordingObserver{}
	p := New(Config{Observer: o, MaxConcurrentStreams: limit})
	lis := testkit.Listen(t)
	go p.Serve(lis)
	t.Cleanup(func() { p.Stop(time.Second) })
	hc := healthpb.NewHealthClient(testkit.Dial(t, lis.Addr().String()))

	// Health.Watch answers at once, then stays open until cancelled.
	watch := func(ctx context.Context) (healthpb.Health_WatchClient, error) {
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return nil, err
		}
		_, err = w.Recv()
		return w, err
	}
	cancels := make([]context.CancelFunc, limit)
	for i := range limit {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		cancels[i] = cancel
		if _, err := watch(ctx); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}

	held := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_, err := watch(ctx)
		held <- err
	}()
	// However long it waits, the extra stream never starts a handler.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := o.streams(); n != limit {
			t.Fatalf("%d streams in progress on one connection, the limit is %d", n, limit)
		}
		select {
		case err := <-held:
			t.Fatalf("stream %d of a connection allowed %d was answered (%v)", limit+1, limit, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// One ends: the held one goes ahead.
	cancels[0]()
	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("held stream: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held stream did not go ahead after another ended")
	}
}

// TestStreamsOutnumberTheWorkers: calls run on a pool of goroutines, yet
// more long-lived streams than the pool has are all served at once (past
// the pool, a call gets a goroutine of its own), on one connection and
// under the default stream limit.
func TestStreamsOutnumberTheWorkers(t *testing.T) {
	p := New(Config{})
	lis := testkit.Listen(t)
	go p.Serve(lis)
	t.Cleanup(func() { p.Stop(time.Second) })
	hc := healthpb.NewHealthClient(testkit.Dial(t, lis.Addr().String()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := int(streamWorkers()) + 4
	for i := range n {
		// Health.Watch answers at once, then stays open until cancelled.
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = w.Recv()
		}
		if err != nil {
			t.Fatalf("stream %d of %d, %d workers: %v", i+1, n, streamWorkers(), err)
		}
	}
}
