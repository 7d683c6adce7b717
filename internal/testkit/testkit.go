// Package testkit is what the tests of many packages need alike: a clock
// that moves only when told, a gRPC server on loopback that is gone when
// the test ends, a bounded wait for a condition, and a log buffer to read
// what a server logged.
package testkit

import (
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Clock is a fake clock: Now stands still until Advance moves it. It is
// safe for concurrent use; pass its Now where a package takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant (Unix 1_700_000_000), so runs
// are repeatable.
func NewClock() *Clock { return &Clock{t: time.Unix(1_700_000_000, 0)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Listen returns a TCP listener on a free loopback port, closed when the
// test ends.
func Listen(tb testing.TB) net.Listener {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lis.Close() })
	return lis
}

// Dial returns a plaintext gRPC connection to addr, closed when the test
// ends.
func Dial(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// Serve serves gs on a free loopback port until the test ends, and
// returns its address; Dial(tb, Serve(tb, gs)) is a connection to it.
func Serve(tb testing.TB, gs *grpc.Server) string {
	tb.Helper()
	lis := Listen(tb)
	go gs.Serve(lis)
	tb.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// Eventually polls cond until it holds, and fails the test if it does not
// within the given time. It polls often at first and then every 50ms, so
// a quick condition is seen quickly and a slow one (a CLI run, say) is not
// run in a tight loop.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	wait := 2 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
