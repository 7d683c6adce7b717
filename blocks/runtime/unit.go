package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// unit supervises one service. Its run goroutine owns the processes: it
// deploys (check out, build, start, swap) on request, restarts a crashed
// process after a backoff, and stops everything when the unit stops.
type unit struct {
	r   *Runtime
	key Key
	// dir is the service's own cache directory: checkouts and binaries.
	dir string

	mu      sync.Mutex
	svc     Service
	want    bool // a deploy is requested
	refetch bool // ... and it should fetch the source again
	waiters []chan error

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	bg     sync.WaitGroup // cleanups and snapshots in flight

	// Owned by the run goroutine.
	cur        *proc
	bin, build string
	srcDir     string // directory the current binary was built in (its cwd)
	root       string // extracted source root (upload, or local snapshot)
	retries    int
	restart    *time.Timer
	watcher    *watcher
}

func newUnit(r *Runtime, s Service) *unit {
	u := &unit{
		r: r, key: s.Key, svc: s,
		dir:  filepath.Join(r.cfg.CacheDir, "services", cacheName(s.Key)),
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	u.ctx, u.cancel = context.WithCancel(r.ctx)
	return u
}

// cacheName is a directory name for k: readable, and unique through a hash
// of the exact key.
func cacheName(k Key) string {
	safe := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
				return r
			}
			return '_'
		}, s)
	}
	return safe(k.Namespace) + "-" + safe(k.Name) + "-" + safe(k.Version) + "-" + shortHash(k.String())
}

// service returns the unit's desired state.
func (u *unit) service() Service {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.svc
}

// setService replaces the desired state (an update).
func (u *unit) setService(s Service) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.svc = s
}

// request asks for a deploy; refetch also fetches the source anew (git
// pull, new upload). The channel gets the outcome of the build.
func (u *unit) request(refetch bool) <-chan error {
	ch := make(chan error, 1)
	u.mu.Lock()
	u.want = true
	u.refetch = u.refetch || refetch
	u.waiters = append(u.waiters, ch)
	u.mu.Unlock()
	u.poke()
	return ch
}

// changed asks for a rebuild because the watched files changed.
func (u *unit) changed() {
	u.mu.Lock()
	u.want = true
	u.mu.Unlock()
	u.poke()
}

func (u *unit) poke() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

func (u *unit) take() (refetch bool, waiters []chan error, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	refetch, waiters, ok = u.refetch, u.waiters, u.want
	u.want, u.refetch, u.waiters = false, false, nil
	return
}

// stop ends the unit and waits until its processes are gone.
func (u *unit) stop() {
	u.cancel()
	<-u.done
}

func (u *unit) run() {
	defer close(u.done)
	defer u.shutdown()
	if s := u.service(); s.Kind == KindLocal && s.Watch {
		u.watch(s.Source)
	}
	for {
		var exited <-chan struct{}
		if u.cur != nil {
			exited = u.cur.done
		}
		var restart <-chan time.Time
		if u.restart != nil {
			restart = u.restart.C
		}
		select {
		case <-u.ctx.Done():
			return
		case <-u.kick:
			if refetch, waiters, ok := u.take(); ok {
				u.deploy(refetch, waiters)
			}
		case <-exited:
			u.crashed()
		case <-restart:
			u.restart = nil
			if u.cur == nil && u.bin != "" {
				u.launch(u.bin, u.build, u.srcDir)
			}
		}
	}
}

// deploy checks out and builds the service, answers the waiters with the
// build's outcome, then starts the new binary; with a process already
// serving, the new one must be ready before the old one is stopped.
func (u *unit) deploy(refetch bool, waiters []chan error) {
	answer := func(err error) {
		for _, w := range waiters {
			w <- err
		}
		waiters = nil
	}
	defer answer(nil)
	u.setStatus(StatusBuilding, nil)
	bin, build, dir, err := u.buildNew(refetch)
	if err != nil {
		if u.ctx.Err() != nil {
			answer(fmt.Errorf("service stopped during the build"))
			return
		}
		msg := err.Error()
		if u.cur != nil {
			u.r.logs.note(u.key, "", "[runtime] build failed; the previous version keeps running")
			msg += " (the previous version is still running)"
		} else if u.bin != "" {
			msg += " (the previous build is restarted after a crash)"
		}
		u.setStatus(StatusError, map[string]string{"error": msg})
		answer(err)
		return
	}
	if u.restart != nil {
		u.restart.Stop()
		u.restart = nil
	}
	u.retries = 0
	old := u.cur
	if old != nil && old.exited() {
		// It crashed while this build ran: nothing to swap with.
		dead := old
		u.cur, old = nil, nil
		u.bg.Go(func() { u.stopProc(dead) })
	}
	if old != nil && build == u.build && dir == u.srcDir {
		// The same binary (a save that changed nothing the build sees):
		// nothing to swap.
		os.Remove(bin)
		u.r.logs.note(u.key, "", "[runtime] build unchanged; the running version stays")
		u.setStatus(StatusRunning, map[string]string{"error": ""})
		return
	}
	if old == nil {
		// The first start is answered once it counts as running (the
		// deferred answer), so whoever ran it finds it running, not
		// starting; a swap is answered once built, as before.
		u.launch(bin, build, dir)
		return
	}
	answer(nil)
	p, err := u.spawn(bin, dir)
	if err != nil {
		u.setStatus(StatusError, map[string]string{"error": "starting the new version: " + err.Error() + " (the previous version is still running)"})
		os.Remove(bin)
		return
	}
	u.setStatus(StatusStarting, nil)
	// A service that registers (the old one did) must have its new version
	// registered before the swap; one that never registers (a plain
	// program, not built on the framework) only has to stay up.
	ready := u.settle
	if u.r.cfg.WaitReady != nil && old.registered.Load() {
		ready = u.register
	}
	if ok, why := ready(p); !ok {
		u.r.logs.note(u.key, p.instance, "[runtime] new version "+why+"; the previous version keeps running")
		u.stopProc(p)
		os.Remove(bin)
		if u.ctx.Err() == nil {
			u.setStatus(StatusError, map[string]string{"error": "new version " + why + " (the previous version is still running)"})
		}
		return
	}
	u.cur, u.bin, u.build, u.srcDir = p, bin, build, dir
	u.setStatus(StatusRunning, u.runningMetadata(p))
	u.watchRegistration(p)
	u.r.logs.note(u.key, old.instance, "[runtime] new version ready; stopping the previous one ("+old.String()+")")
	u.stopProc(old)
	u.prune()
}

// launch starts a process of bin when none is running: after the first
// build, and after a crash's backoff.
func (u *unit) launch(bin, build, dir string) {
	u.bin, u.build, u.srcDir = bin, build, dir
	u.prune()
	p, err := u.spawn(bin, dir)
	if err != nil {
		u.failedStart(err)
		return
	}
	u.cur = p
	u.setStatus(StatusStarting, nil)
	if ok, _ := u.started(p); ok {
		u.setStatus(StatusRunning, u.runningMetadata(p))
		u.watchRegistration(p)
	}
	// Otherwise it exited (the run loop restarts it) or the unit stops.
}

func (u *unit) runningMetadata(p *proc) map[string]string {
	md := map[string]string{
		"started": p.started.UTC().Format(time.RFC3339),
		"build":   u.build,
		"error":   "",
		"retries": "",
	}
	if u.retries > 0 {
		md["retries"] = strconv.Itoa(u.retries)
	}
	return md
}

// settle waits until p has stayed up for Settle.
func (u *unit) settle(p *proc) (bool, string) {
	t := time.NewTimer(u.r.cfg.Settle)
	defer t.Stop()
	select {
	case <-t.C:
		return true, ""
	case <-p.done:
		return false, "exited during start: " + exitReason(p.err)
	case <-u.ctx.Done():
		return false, "stopped during start"
	}
}

// started waits until p is ready to count as running: registered, if
// WaitReady reports it so, or else up for Settle (a plain program that
// never registers). A service answers calls once registered, so its status
// says running then, not a Settle later.
func (u *unit) started(p *proc) (bool, string) {
	if u.r.cfg.WaitReady == nil {
		return u.settle(p)
	}
	ctx, cancel := context.WithCancel(u.ctx)
	defer cancel()
	registered := make(chan struct{})
	go func() {
		if u.r.cfg.WaitReady(ctx, u.key.Namespace, u.key.Name, p.instance) == nil {
			close(registered)
		}
	}()
	t := time.NewTimer(u.r.cfg.Settle)
	defer t.Stop()
	select {
	case <-registered:
		if !p.registered.Swap(true) {
			u.r.logs.note(u.key, p.instance, "[runtime] instance "+p.instance+" registered")
		}
		return true, ""
	case <-t.C:
		return true, ""
	case <-p.done:
		return false, "exited during start: " + exitReason(p.err)
	case <-u.ctx.Done():
		return false, "stopped during start"
	}
}

// register waits until WaitReady reports p registered, at most
// ReadyTimeout; it marks p registered.
func (u *unit) register(p *proc) (bool, string) {
	cfg := u.r.cfg
	ctx, cancel := context.WithTimeout(u.ctx, cfg.ReadyTimeout)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- cfg.WaitReady(ctx, u.key.Namespace, u.key.Name, p.instance) }()
	select {
	case err := <-res:
		switch {
		case err == nil:
			if !p.registered.Swap(true) {
				u.r.logs.note(u.key, p.instance, "[runtime] instance "+p.instance+" registered")
			}
			return true, ""
		case p.exited():
			return false, "exited during start: " + exitReason(p.err)
		case u.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			return false, "not registered within " + cfg.ReadyTimeout.String()
		}
		return false, "not ready: " + err.Error()
	case <-p.done:
		return false, "exited during start: " + exitReason(p.err)
	case <-u.ctx.Done():
		return false, "stopped during start"
	}
}

// watchRegistration notes in the background when p registers, so the next
// swap knows to wait for the new version's registration.
func (u *unit) watchRegistration(p *proc) {
	if u.r.cfg.WaitReady == nil || p.registered.Load() {
		return
	}
	u.bg.Go(func() {
		if ok, why := u.register(p); !ok && !p.exited() && u.ctx.Err() == nil {
			u.r.logs.note(u.key, p.instance, "[runtime] instance "+p.instance+" "+why+"; it keeps running")
		}
	})
}

// crashed handles the exit of the current process: status error, and a
// restart after the backoff.
func (u *unit) crashed() {
	p := u.cur
	u.cur = nil
	reason := exitReason(p.err)
	ran := time.Since(p.started)
	b := u.r.cfg.Backoff
	if ran >= b.Reset {
		u.retries = 0
	}
	u.retries++
	delay := b.Initial
	for i := 1; i < u.retries && delay < b.Max; i++ {
		delay *= 2
	}
	delay = min(delay, b.Max)
	u.r.logs.note(u.key, p.instance, fmt.Sprintf("[runtime] process exited (%s) after %s; restarting in %s",
		reason, ran.Round(time.Millisecond), delay))
	u.setStatus(StatusError, map[string]string{"error": "process exited: " + reason, "retries": strconv.Itoa(u.retries)})
	u.r.restarts.Add(1)
	// Whatever the leader left in its group goes too.
	u.bg.Go(func() { u.stopProc(p) })
	u.restart = time.NewTimer(delay)
}

// failedStart handles a process that could not be started at all.
func (u *unit) failedStart(err error) {
	u.retries++
	delay := min(u.r.cfg.Backoff.Initial<<min(u.retries-1, 20), u.r.cfg.Backoff.Max)
	u.r.logs.note(u.key, "", "[runtime] cannot start: "+err.Error())
	u.setStatus(StatusError, map[string]string{"error": "cannot start: " + err.Error(), "retries": strconv.Itoa(u.retries)})
	u.r.restarts.Add(1)
	u.restart = time.NewTimer(delay)
}

// spawn starts bin in dir with the service's environment.
func (u *unit) spawn(bin, dir string) (*proc, error) {
	inst := newInstanceID()
	env, err := u.environ(inst)
	if err != nil {
		return nil, err
	}
	maxLine := u.r.cfg.MaxLineBytes
	p, err := startProcess(procSpec{bin: bin, dir: dir, env: env, instance: inst,
		output: func(stream string, f *os.File) {
			defer f.Close()
			u.r.logs.capture(u.key, inst, stream, f, maxLine)
		}})
	if err != nil {
		return nil, err
	}
	if gone := u.r.cfg.Gone; gone != nil {
		// Not in u.bg: it waits for the process, which shutdown stops
		// after waiting for u.bg.
		go func() {
			<-p.done
			if !u.r.isClosed() {
				gone(context.Background(), u.key.Namespace, u.key.Name, inst)
			}
		}()
	}
	if err := u.r.backend.AddProcess(context.Background(), Process{PGID: p.pgid, Instance: inst, Key: u.key, Started: p.started}); err != nil {
		u.r.log.Warn("runtime: recording process failed", "service", u.key.String(), "err", err)
	}
	u.r.logs.note(u.key, inst, fmt.Sprintf("[runtime] started %s (instance %s)", p, inst))
	return p, nil
}

// stopProc stops p's process group and forgets it.
func (u *unit) stopProc(p *proc) {
	p.stop(u.r.cfg.StopGrace)
	if err := u.r.backend.RemoveProcess(context.Background(), p.pgid); err != nil && !u.r.isClosed() {
		u.r.log.Warn("runtime: forgetting process failed", "service", u.key.String(), "err", err)
	}
}

// environ is the process's environment: the few variables of the server's
// own a program needs (serviceEnviron: never the server's settings and
// secrets), the service's identity and credentials, then the user's
// variables.
func (u *unit) environ(instance string) ([]string, error) {
	s := u.service()
	env := serviceEnviron()
	proxy := u.r.cfg.ProxyAddress
	env = append(env,
		"MICRO_SERVICE_NAME="+s.Name,
		"MICRO_SERVICE_VERSION="+s.Version,
		"MICRO_NAMESPACE="+s.Namespace,
		"MICRO_PROXY="+proxy,
		"MICRO_SERVICE_NETWORK="+proxy,
		"MICRO_TRACE="+strconv.FormatBool(u.r.cfg.Trace),
	)
	if mint := u.r.cfg.MintAccount; mint != nil {
		ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
		id, secret, err := mint(ctx, s.Namespace, s.Name)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("minting the service account: %w", err)
		}
		env = append(env, "MICRO_AUTH_ID="+id, "MICRO_AUTH_SECRET="+secret,
			"MICRO_CLIENT_ID="+id, "MICRO_CLIENT_SECRET="+secret)
	}
	env = append(env, s.Env...)
	// Last, so no user variable can hide the process from readiness checks
	// and from the reaping of leftovers.
	return append(env, "MICRO_INSTANCE_ID="+instance), nil
}

// shutdown stops the watcher and every process when the unit ends.
func (u *unit) shutdown() {
	if u.watcher != nil {
		u.watcher.close()
	}
	if u.restart != nil {
		u.restart.Stop()
	}
	if u.cur != nil {
		u.setStatus(StatusStopping, nil)
		u.stopProc(u.cur)
		u.cur = nil
		u.setStatus(StatusStopped, nil)
	}
	u.bg.Wait()
	// Deploys asked for and never taken up get an answer all the same.
	if _, waiters, _ := u.take(); len(waiters) > 0 {
		for _, w := range waiters {
			w <- errors.New("the service was stopped before it was built")
		}
	}
}

// setStatus records the status; md is merged into the metadata.
func (u *unit) setStatus(s Status, md map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.r.backend.SetStatus(ctx, u.key, s, md); err != nil && !u.r.isClosed() {
		u.r.log.Warn("runtime: recording status failed", "service", u.key.String(), "status", s.String(), "err", err)
	}
}

// prune removes binaries and checkouts no process uses any more.
func (u *unit) prune() {
	keep := []string{u.bin, u.srcDir, u.root}
	if u.cur != nil {
		keep = append(keep, u.cur.bin, u.cur.dir)
	}
	inUse := func(m string) bool {
		for _, k := range keep {
			if k != "" && (k == m || strings.HasPrefix(k, m+string(filepath.Separator))) {
				return true
			}
		}
		return false
	}
	for _, pattern := range []string{filepath.Join(u.dir, "bin", "*"), filepath.Join(u.dir, "src-*")} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if !inUse(m) {
				os.RemoveAll(m)
			}
		}
	}
}

func newInstanceID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
