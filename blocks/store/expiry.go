package store

import (
	"sync"
	"time"
)

// expiries is when the sweeper next wakes for an expiry: a timer on the
// earliest expires_at in the table, so an expiry is deleted and reported to
// watchers when it happens rather than at the next sweep. Writes that bring
// the earliest expiry forward wake the sweeper to reset its timer; writes
// and deletes that push it back only cost one sweep that finds nothing.
type expiries struct {
	wake chan struct{} // capacity 1: wake-ups coalesce

	mu sync.Mutex
	// due is the expiry the timer is set for; zero when none is.
	due time.Time
	// scheduling is set while the sweeper reads the next expiry, whose
	// answer may predate a write committing meanwhile.
	scheduling bool
}

// written tells the sweeper about a committed write expiring at exp (zero:
// never), waking it when exp comes before what its timer waits for.
func (e *expiries) written(exp time.Time) {
	if exp.IsZero() {
		return
	}
	e.mu.Lock()
	poke := e.scheduling || e.due.IsZero() || exp.Before(e.due)
	e.mu.Unlock()
	if poke {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// sweepLoop deletes expired records at the earliest expiry, and every
// interval in case the clock or another writer moved things (and purges
// the blobs whose deletion is due).
func (s *Store) sweepLoop() {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			s.sweep()
			s.blobs.purge(s.ctx)
		case <-timer.C:
			s.sweep()
		case <-s.expiries.wake:
		}
		s.schedule(timer)
	}
}

// sweep deletes what has expired by now, reporting it to watchers.
func (s *Store) sweep() {
	n, err := s.backend.Sweep(s.ctx)
	switch {
	case err != nil && s.ctx.Err() == nil:
		s.log.Warn("store: sweeping expired records failed", "err", err, "deleted", n)
	case n > 0:
		s.log.Debug("store: swept expired records", "deleted", n)
	}
}

// schedule sets timer for the earliest expiry in the table, or stops it
// when nothing expires. A failure to read it leaves the ticker in charge.
func (s *Store) schedule(timer *time.Timer) {
	e := &s.expiries
	e.mu.Lock()
	e.scheduling = true
	e.mu.Unlock()
	next, err := s.backend.NextExpiry(s.ctx)
	e.mu.Lock()
	e.scheduling = false
	e.due = next
	e.mu.Unlock()
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("store: reading the next expiry failed", "err", err)
		}
		timer.Stop()
		return
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(max(next.Sub(s.now()), 0))
}
