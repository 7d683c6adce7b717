package testkit

import (
	"net"
	"sync"
	"testing"
)

// FreeAddr is a loopback address whose port nothing listens on right now:
// for what must be given its address before it starts (a cluster's
// routes, a validator's port).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
