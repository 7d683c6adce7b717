// Package gcpercent sets the garbage collector's percent (GOGC) of a
// micro server after each collection, from its live heap and how busy it
// is: up to 400 while the live heap is small and the collector would
// otherwise run often, so a small heap is not collected every few
// megabytes allocated; Go's default of 100 as the heap grows, so the heap
// never holds more than Headroom beyond what GOGC=100 would let it hold,
// and while the server is idle, so an idle server's heap shrinks back.
//
// With GOGC=100 the collector runs each time the heap has doubled, at
// least every 4 MB allocated: a server whose live heap is a few megabytes
// and which allocates some kilobytes per call collected every hundred or
// so calls, about a fifth of a call's CPU.
package gcpercent

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	// Max is the percent while the live heap is under a quarter of
	// Headroom: the heap may grow to five times its live data.
	Max = 400
	// Default is Go's own: the percent once the live heap is Headroom or
	// more, and while idle.
	Default = 100
	// Headroom bounds the garbage the heap may hold beyond its live data,
	// when that is more than GOGC=100 would allow.
	Headroom = 64 << 20
	// IdleAfter: a server is idle when, at Go's default percent, its
	// collector would run less often than once in this long.
	IdleAfter = 10 * time.Second

	// minHeap is the heap under which Go's collector does not collect
	// at GOGC=100.
	minHeap = 4 << 20
)

// For is the percent for a busy heap whose live data is live bytes: the
// garbage allowed is Headroom, but at most four times the live data and
// at least as much as it (Go's default).
func For(live uint64) int {
	if live == 0 {
		return Max
	}
	return int(min(max(Headroom*100/live, Default), Max))
}

// busy says whether a heap of live bytes that allocated allocated bytes
// in elapsed is busy: at Go's default percent its collector would have
// run at least once per idleAfter. A collection within idleAfter of the
// previous one is busy, whatever the percent, since the default would
// have run it sooner still.
func busy(live, allocated uint64, elapsed, idleAfter time.Duration) bool {
	if elapsed < idleAfter {
		return true
	}
	// Per idleAfter, at least what GOGC=100 lets the heap grow by
	// between collections: to twice its live data, and to minHeap.
	growth := max(live, minHeap-min(live, minHeap))
	return float64(allocated)*float64(idleAfter) >= float64(growth)*float64(elapsed)
}

// Start sets the percent now (as busy: a server that has just started is
// about to be called) and again after each collection, until stop is
// called, which sets it back as it was. When GOGC is set in the
// environment it does nothing: the user's choice stands. GOMEMLIMIT, if
// set, still caps the heap as Go does.
func Start() (stop func()) { return start(IdleAfter) }

func start(idleAfter time.Duration) (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	p := &pacer{idleAfter: idleAfter, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}}
	live, allocs := p.read()
	p.allocs, p.at = allocs, time.Now()
	p.prev = debug.SetGCPercent(For(live))
	p.arm()
	return p.stop
}

type pacer struct {
	mu      sync.Mutex
	stopped bool
	prev    int // the percent before Start

	idleAfter time.Duration

	sample []metrics.Sample
	// The bytes allocated since the process started, and when, at the
	// previous collection.
	allocs uint64
	at     time.Time
}

// read returns the live heap the last collection marked and the bytes
// allocated so far. The caller holds mu, or has not shared p yet.
func (p *pacer) read() (live, allocs uint64) {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	if p.sample[1].Value.Kind() == metrics.KindUint64 {
		allocs = p.sample[1].Value.Uint64()
	}
	return live, allocs
}

// collected sets the percent after a collection.
func (p *pacer) collected() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	live, allocs := p.read()
	now := time.Now()
	percent := Default
	if busy(live, allocs-p.allocs, now.Sub(p.at), p.idleAfter) {
		percent = For(live)
	}
	p.allocs, p.at = allocs, now
	debug.SetGCPercent(percent)
	p.arm()
}

// sentinel is an object only a cleanup refers to: the next collection
// finds it unreachable, and its cleanup runs once that collection ends.
// Its size keeps it out of the tiny allocator, whose blocks hold several
// objects and are freed together.
type sentinel [32]byte

// arm has the next collection call collected.
func (p *pacer) arm() {
	runtime.AddCleanup(new(sentinel), (*pacer).collected, p)
}

func (p *pacer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		debug.SetGCPercent(p.prev)
	}
}
