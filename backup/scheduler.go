package backup

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// firstRetry is the wait after a failed backup; it doubles with each
// failure in a row, up to the schedule's interval.
const firstRetry = 30 * time.Second

// Config configures a Scheduler.
type Config struct {
	DB Source
	To Destination
	// Every is the time between snapshots.
	Every time.Duration
	// Keep is how many snapshots retention leaves at To; 0 keeps all.
	Keep int
	// Logger gets a line per backup: info when done, error when failed.
	Logger *slog.Logger
	// TakenBy, when set, names who takes the backups now: "" this
	// process, else another (in a cluster, the node that leads; "no
	// leader" while there is none). A process that stands by takes no
	// backup when one is due and reads the schedule again from the
	// destination, so whichever process takes over goes on from the
	// newest snapshot there.
	TakenBy func() string
}

// Status is what a scheduler has done, for /health, /metrics and
// `micro backups`.
type Status struct {
	Destination string
	Every       time.Duration
	Keep        int
	// Running is true while a backup is being taken.
	Running bool
	// Standby names who takes the backups when it is not this process
	// (Config.TakenBy), as of the last time one was due.
	Standby string
	// Next is when the next backup is due.
	Next        time.Time
	LastAttempt time.Time
	// LastSuccess is when the last good backup finished; Last describes it.
	LastSuccess time.Time
	Last        Result
	// LastError is why the last backup failed; empty once one succeeds.
	LastError   string
	LastErrorAt time.Time
	// Successes and Failures count backups since the server started.
	Successes, Failures uint64
}

// Failing reports whether the last backup failed.
func (s Status) Failing() bool { return s.LastError != "" }

// Scheduler takes a backup every Config.Every, one at a time.
type Scheduler struct {
	cfg Config
	log *slog.Logger

	one     sync.Mutex // held while a backup runs
	mu      sync.Mutex
	st      Status
	failRun int // failures in a row, for the retry delay
}

// New returns a scheduler for cfg; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	switch {
	case cfg.DB == nil || cfg.To == nil:
		return nil, errors.New("backup: no database or destination")
	case cfg.Every <= 0:
		return nil, errors.New("--backup-every must be a positive duration such as 1h")
	case cfg.Keep < 0:
		return nil, errors.New("--backup-keep must be 0 (keep all) or more")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("destination", cfg.To.String())
	return &Scheduler{cfg: cfg, log: log, st: Status{Destination: cfg.To.String(), Every: cfg.Every, Keep: cfg.Keep}}, nil
}

// Status returns what the scheduler has done so far.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Run takes backups on schedule until ctx is done. The first is due one
// interval after the newest snapshot already at the destination, so a
// restart neither skips nor doubles one.
func (s *Scheduler) Run(ctx context.Context) {
	s.standBy()
	next := s.first(ctx)
	for {
		s.mu.Lock()
		s.st.Next = next
		s.mu.Unlock()
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if s.standBy() {
			next = s.nextAfterStandby(ctx)
			continue
		}
		if _, err := s.Backup(ctx); err != nil {
			next = time.Now().Add(s.retryDelay())
		} else {
			next = time.Now().Add(s.cfg.Every)
		}
	}
}

// standBy says whether another process takes the backup due now, and
// records who.
func (s *Scheduler) standBy() bool {
	by := ""
	if s.cfg.TakenBy != nil {
		by = s.cfg.TakenBy()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Standby = by
	return by != ""
}

// nextAfterStandby is when a process that stood by looks again: when the
// next backup is due after the newest at the destination, and at least a
// minute (or an interval, when shorter) from now, so a standby whose
// leader is not taking them does not spin.
func (s *Scheduler) nextAfterStandby(ctx context.Context) time.Time {
	return later(s.first(ctx), time.Now().Add(min(s.cfg.Every, time.Minute)))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// first is when the first backup is due. A destination that cannot be
// listed counts as a failed backup, retried soon.
func (s *Scheduler) first(ctx context.Context) time.Time {
	objs, err := s.cfg.To.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.failed(time.Now(), err)
		}
		return time.Now().Add(s.retryDelay())
	}
	snaps := Snapshots(objs)
	if len(snaps) == 0 {
		return time.Now()
	}
	taken, _ := ParseName(snaps[0].Name)
	return taken.Add(s.cfg.Every)
}

func (s *Scheduler) retryDelay() time.Duration {
	s.mu.Lock()
	n := s.failRun
	s.mu.Unlock()
	d := firstRetry
	for i := 1; i < n && d < s.cfg.Every; i++ {
		d *= 2
	}
	return min(d, s.cfg.Every)
}

// Backup takes one backup now and then applies retention; a backup that
// is already running is waited for first.
func (s *Scheduler) Backup(ctx context.Context) (Result, error) {
	s.one.Lock()
	defer s.one.Unlock()
	now := time.Now()
	s.mu.Lock()
	s.st.Running = true
	s.st.LastAttempt = now
	s.mu.Unlock()

	res, err := Take(ctx, s.cfg.DB, s.cfg.To, now)
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: not the destination's fault.
			s.mu.Lock()
			s.st.Running = false
			s.mu.Unlock()
			return res, err
		}
		s.failed(now, err)
		return res, err
	}
	// Retention runs only after the new snapshot is safely put.
	deleted, perr := Prune(ctx, s.cfg.To, s.cfg.Keep)
	s.mu.Lock()
	s.st.Running = false
	s.st.LastSuccess = time.Now()
	s.st.Last = res
	s.st.LastError = ""
	s.st.Successes++
	s.failRun = 0
	s.mu.Unlock()
	s.log.Info("backup done", "name", res.Name, "bytes", res.Size, "db_bytes", res.DBSize,
		"took", res.Took.Round(time.Millisecond), "pruned", len(deleted))
	if perr != nil && ctx.Err() == nil {
		s.log.Error("backup retention: cannot delete old snapshots; they will be tried again after the next backup", "err", perr)
	}
	return res, nil
}

func (s *Scheduler) failed(at time.Time, err error) {
	s.mu.Lock()
	s.st.Running = false
	s.st.LastError = err.Error()
	s.st.LastErrorAt = at
	s.st.Failures++
	s.failRun++
	s.mu.Unlock()
	s.log.Error("backup failed", "err", err, "retry_in", s.retryDelay())
}
