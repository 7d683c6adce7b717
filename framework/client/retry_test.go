package client

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/server"
	"micro.dev/micro/internal/testkit"
)

// Flaky answers 503 until it has been called fails times, then 200; a
// name "broken" is always a 500.
type Flaky struct {
	calls atomic.Int32
	fails int32
}

func (f *Flaky) Do(ctx context.Context, req *Plain, rsp *Plain) error {
	n := f.calls.Add(1)
	if req.Text == "broken" {
		return errors.InternalServerError("flaky", "broken")
	}
	if n <= f.fails {
		return errors.ServiceUnavailable("flaky", "not yet (%d)", n)
	}
	rsp.Text = "done"
	return nil
}

func serveFlaky(t *testing.T, lis net.Listener, f *Flaky) {
	t.Helper()
	s := server.New("flaky", quiet())
	if err := s.Handle(f); err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(func() { s.Stop(time.Second) })
}

func noWait(context.Context, Request, int) (time.Duration, error) { return time.Millisecond, nil }

// TestRetries503: a server that answers 503 twice is called three times
// with WithRetries(2) and succeeds; with the default (1 retry) the call
// fails after two; a 500 is never retried.
func TestRetries503(t *testing.T) {
	lis := testkit.Listen(t)
	f := &Flaky{fails: 2}
	serveFlaky(t, lis, f)
	c, err := New(Options{Proxy: lis.Addr().String(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var waits []int
	backoff := func(ctx context.Context, req Request, attempt int) (time.Duration, error) {
		waits = append(waits, attempt)
		return time.Millisecond, nil
	}
	rsp := new(Plain)
	err = c.Call(ctx, c.NewRequest("flaky", "Flaky.Do", &Plain{}), rsp, WithRetries(2), WithBackoff(backoff))
	if err != nil || rsp.Text != "done" || f.calls.Load() != 3 || len(waits) != 2 || waits[0] != 1 || waits[1] != 2 {
		t.Fatalf("with 2 retries: %v %q, %d calls, backoffs %v", err, rsp.Text, f.calls.Load(), waits)
	}

	f.calls.Store(0)
	err = c.Call(ctx, c.NewRequest("flaky", "Flaky.Do", &Plain{}), rsp, WithBackoff(noWait))
	if errors.Code(err) != 503 || f.calls.Load() != 1+DefaultRetries {
		t.Fatalf("default retries: %v after %d calls", err, f.calls.Load())
	}

	f.calls.Store(0)
	err = c.Call(ctx, c.NewRequest("flaky", "Flaky.Do", &Plain{Text: "broken"}), rsp, WithRetries(5), WithBackoff(noWait))
	if errors.Code(err) != 500 || f.calls.Load() != 1 {
		t.Fatalf("a 500 was retried: %v after %d calls", err, f.calls.Load())
	}

	f.calls.Store(0)
	err = c.Call(ctx, c.NewRequest("flaky", "Flaky.Do", &Plain{}), rsp, WithRetries(0))
	if errors.Code(err) != 503 || f.calls.Load() != 1 {
		t.Fatalf("WithRetries(0): %v after %d calls", err, f.calls.Load())
	}
}

// TestRetriesRefused: the first attempt finds nothing listening; the
// server starts during the backoff and the retry reaches it.
func TestRetriesRefused(t *testing.T) {
	lis := testkit.Listen(t)
	addr := lis.Addr().String()
	lis.Close()
	c, err := New(Options{Proxy: addr, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := &Flaky{}
	started := 0
	backoff := func(ctx context.Context, req Request, attempt int) (time.Duration, error) {
		if started == 0 {
			lis, err := net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("the port was taken meanwhile: %v", err)
			}
			serveFlaky(t, lis, f)
		}
		started++
		// Longer than gRPC's first reconnect backoff (100 ms ±20%, dial.go),
		// before which the channel fails calls without dialing.
		return 250 * time.Millisecond, nil
	}
	rsp := new(Plain)
	err = c.Call(context.Background(), c.NewRequest("flaky", "Flaky.Do", &Plain{}), rsp, WithRetries(5), WithBackoff(backoff))
	if err != nil || rsp.Text != "done" || f.calls.Load() != 1 {
		t.Fatalf("%v %q after %d backoffs, %d calls served", err, rsp.Text, started, f.calls.Load())
	}
}

func TestDefaultBackoff(t *testing.T) {
	for attempt, max := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 9: 2 * time.Second} {
		for range 20 {
			d, err := DefaultBackoff(context.Background(), nil, attempt)
			if err != nil || d < max/2 || d > max {
				t.Fatalf("attempt %d: %s %v, want %s to %s", attempt, d, err, max/2, max)
			}
		}
	}
}
