package testkit

import (
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
)

// TestStartAll: every start runs at once (each waits for all the others
// to have begun, as cluster nodes wait for a majority), results come back
// by index, and a failure fails the test naming the node.
func TestStartAll(t *testing.T) {
	var begun sync.WaitGroup
	begun.Add(3)
	got := StartAll(t, 3, func(i int) (int, error) {
		begun.Done()
		begun.Wait()
		return i * 10, nil
	})
	if !slices.Equal(got, []int{0, 10, 20}) {
		t.Fatalf("got %v", got)
	}
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartAll(r, 2, func(i int) (string, error) {
			if i == 1 {
				return "", errors.New("no majority")
			}
			return "up", nil
		})
	}()
	<-done
	if r.failed != "node 1: no majority" {
		t.Fatalf("a failed start: %q", r.failed)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	l.Close()
}
