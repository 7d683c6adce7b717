package gcpercent

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, Max},
		{4 << 20, Max},            // a few MB live: 16 MB of garbage
		{Headroom / 4, Max},       // 4x live is the headroom exactly
		{Headroom/4 + 1<<20, 376}, // past it, the headroom bounds the garbage
		{Headroom / 2, 200},       // 32 MB live may hold 64 MB of garbage
		{Headroom, Default},       // from here on, Go's default
		{4 * Headroom, Default},   // never below it
	} {
		if got := For(c.live); got != c.want {
			t.Errorf("For(%d MB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func TestBusy(t *testing.T) {
	const idle = 10 * time.Second
	for _, c := range []struct {
		live, allocated uint64
		elapsed         time.Duration
		want            bool
	}{
		{8 << 20, 0, time.Second, true},                 // collected again within idleAfter
		{8 << 20, 0, 2 * time.Minute, false},            // Go's forced collection of an idle heap
		{8 << 20, 8 << 20, 10 * time.Second, true},      // GOGC=100 would collect once per 10 s
		{8 << 20, 8<<20 - 1, 10 * time.Second, false},   // just under
		{8 << 20, 32 << 20, 40 * time.Second, true},     // at 400, a collection each 40 s is as busy
		{1 << 20, 3 << 20, 10 * time.Second, true},      // a small heap grows to 4 MB before collecting
		{1 << 20, 3<<20 - 1, 10 * time.Second, false},   // just under
		{64 << 20, 640 << 20, 100 * time.Second, true},  // 64 MB per 10 s
		{64 << 20, 600 << 20, 100 * time.Second, false}, // less
	} {
		if got := busy(c.live, c.allocated, c.elapsed, idle); got != c.want {
			t.Errorf("busy(live %d MB, allocated %d B in %v) = %v, want %v", c.live>>20, c.allocated, c.elapsed, got, c.want)
		}
	}
}

// gcPercent is the runtime's percent as it stands.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// waitPercent collects until the percent set after a collection is want:
// the cleanup setting it runs after the collection that found its
// sentinel unreachable, on a goroutine of its own.
func waitPercent(t *testing.T, want func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	runtime.GC()
	for gcPercent() != want() {
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d after collections, want %d", gcPercent(), want())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestStartFollowsTheLiveHeap: the percent is set at once from the live
// heap, set again after collections as the live heap grows, and put back
// as it was by stop.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(Default))
	runtime.GC()
	stop := Start()
	if got := gcPercent(); got != Max {
		stop()
		t.Fatalf("GC percent %d after Start with a small heap, want %d", got, Max)
	}

	// 48 MB held live: the headroom bounds the garbage, 64 MB of it.
	held := make([][]byte, 48)
	for i := range held {
		held[i] = make([]byte, 1<<20)
		held[i][0] = 1
	}
	live := func() int {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return For(s[0].Value.Uint64())
	}
	waitPercent(t, live)
	if got := gcPercent(); got >= Max || got <= Default {
		t.Errorf("GC percent %d with 48 MB live, want between %d and %d", got, Default, Max)
	}
	runtime.KeepAlive(held)

	stop()
	if got := gcPercent(); got != Default {
		t.Fatalf("GC percent %d after stop, want %d as before Start", got, Default)
	}
	// Stopped, collections leave the percent alone.
	debug.SetGCPercent(150)
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gcPercent(); got != 150 {
		t.Errorf("GC percent %d after stop and collections, want the 150 set since", got)
	}
}

// TestStartLeavesGOGCAlone: with GOGC in the environment, Start changes
// nothing, now or after collections.
func TestStartLeavesGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "150")
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	stop := Start()
	defer stop()
	for range 3 {
		runtime.GC()
	}
	time.Sleep(10 * time.Millisecond)
	if got := gcPercent(); got != 150 {
		t.Errorf("GC percent %d with GOGC=150 set, want 150", got)
	}
	stop()
	if got := gcPercent(); got != 150 {
		t.Errorf("GC percent %d after stop with GOGC=150 set, want 150", got)
	}
}

// TestIdleHeapGoesBackToTheDefault: a collection after a quiet spell (as
// Go forces every two minutes) sets Go's default, so an idle server's
// heap shrinks back; the next busy collections raise the percent again.
func TestIdleHeapGoesBackToTheDefault(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(Default))
	const idleAfter = 200 * time.Millisecond
	stop := start(idleAfter)
	defer stop()
	if got := gcPercent(); got != Max {
		t.Fatalf("GC percent %d after start with a small heap, want %d", got, Max)
	}
	time.Sleep(2 * idleAfter) // allocating next to nothing
	runtime.GC()
	// No collection while waiting: one now would be busy.
	for deadline := time.Now().Add(10 * time.Second); gcPercent() != Default; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d after a collection following a quiet spell, want %d", gcPercent(), Default)
		}
	}
	// Collections in a row are busy again.
	waitPercent(t, func() int { return Max })
}
