package testkit

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreeAddr is a loopback address whose port nothing listens on right now:
// for what must be given its address before it starts (a cluster's
// routes, a validator's port). The port is drawn below the system's
// ephemeral range: a port the kernel handed out for listening on :0 is
// also what it hands the next outgoing connection, and under a loaded
// parallel test run one often took the port before the server that was
// told it could bind it.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	low := ephemeralLow()
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		l.Close()
		return l.Addr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow is the first port of the range the kernel picks outgoing
// connections' ports from (Linux's default where it cannot be read).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	return max(low, 10001)
}

// StartAll runs start(0) … start(n-1) at once and returns what they
// started once all have: nodes of a cluster, each ready only once a
// majority is up, cannot be started one after another. A failure fails the
// test, naming the node.
func StartAll[T any](tb testing.TB, n int, start func(i int) (T, error)) []T {
	tb.Helper()
	out := make([]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i], errs[i] = start(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("node %d: %v", i, err)
		}
	}
	return out
}
