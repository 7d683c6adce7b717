package service

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"micro.dev/micro/framework/sync"
	"micro.dev/micro/internal/tracing"
)

// SchedulerTTL is the lease of a service's scheduler: when the instance
// running the jobs dies, another takes over within about this long.
const SchedulerTTL = 10 * time.Second

// Every runs fn every d on one instance of the service at a time, its
// leader (a framework/sync lease named "<service>/scheduler"): with three
// instances running, fn still runs once per period. The first run is d
// after the instance becomes leader; a run that takes longer than d
// delays the next one instead of overlapping it. fn's context ends when
// the service stops or loses the leadership; its error is logged. Add
// jobs before Run.
func (s *Service) Every(d time.Duration, fn func(context.Context) error) error {
	if d <= 0 {
		return fmt.Errorf("every %s: give a positive interval", d)
	}
	return s.jobs.add(job{name: "every " + d.String(), next: func(t time.Time) time.Time { return t.Add(d) }, fn: fn})
}

// Cron runs fn on the schedule of a standard 5-field cron expression
// ("*/5 * * * *": minute, hour, day of month, month, day of week) or a
// descriptor ("@hourly", "@every 90s"), in the server's local time zone
// unless the expression starts with CRON_TZ=<zone>, on the service's
// leader only, as Every.
func (s *Service) Cron(expr string, fn func(context.Context) error) error {
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return fmt.Errorf("cron %q: %w", expr, err)
	}
	return s.jobs.add(job{name: "cron " + expr, next: sched.Next, fn: fn})
}

// Every adds a job to the default service (see Service.Every).
func Every(d time.Duration, fn func(context.Context) error) error {
	return DefaultService().Every(d, fn)
}

// Cron adds a job to the default service (see Service.Cron).
func Cron(expr string, fn func(context.Context) error) error { return DefaultService().Cron(expr, fn) }

type job struct {
	name string
	next func(time.Time) time.Time
	fn   func(context.Context) error
}

// jobs are a service's scheduled jobs, run by whichever instance holds the
// scheduler lease.
type jobs struct {
	mu      gosync.Mutex
	list    []job
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func (j *jobs) add(jb job) error {
	if jb.fn == nil {
		return errors.New(jb.name + ": the job's function is nil")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.started {
		return errors.New(jb.name + ": the service is running; add jobs before Run")
	}
	j.list = append(j.list, jb)
	return nil
}

// start campaigns for the scheduler lease in the background, if there
// are jobs; Start calls it once the service is registered.
func (j *jobs) start(s *Service) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.started = true
	if len(j.list) == 0 {
		return
	}
	list := append([]job(nil), j.list...)
	// The campaign and its lease renewals are the framework's: unsampled.
	// Each job run starts a trace of its own (Detach in run).
	ctx, cancel := context.WithCancel(tracing.Unsampled(context.Background()))
	j.cancel, j.done = cancel, make(chan struct{})
	name := s.opts.Name + "/scheduler"
	go func() {
		defer close(j.done)
		for ctx.Err() == nil {
			err := sync.Leader(ctx, name, func(ctx context.Context) {
				s.log.Info("Scheduler [service] leading: running the jobs", "service", s.opts.Name, "node", s.nodeID, "jobs", len(list))
				var wg gosync.WaitGroup
				for _, jb := range list {
					wg.Go(func() { jb.run(ctx, s) })
				}
				wg.Wait()
			}, sync.WithClient(s.caller), sync.Holder(s.nodeID), sync.TTL(SchedulerTTL))
			if err == nil || ctx.Err() != nil {
				continue
			}
			s.log.Error("Scheduler [service] cannot campaign for the lease; the jobs do not run here", "service", s.opts.Name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(SchedulerTTL):
			}
		}
	}()
}

// stop ends the jobs (their contexts end) and waits for them, releasing
// the lease so another instance takes over at once.
func (j *jobs) stop() {
	j.mu.Lock()
	cancel, done := j.cancel, j.done
	j.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// run runs one job at its times until ctx ends.
func (jb job) run(ctx context.Context, s *Service) {
	for {
		wait := time.Until(jb.next(time.Now()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := jb.fn(tracing.Detach(ctx)); err != nil && ctx.Err() == nil {
			s.log.Error("Scheduler [service] job failed", "service", s.opts.Name, "job", jb.name, "err", err)
		}
	}
}
