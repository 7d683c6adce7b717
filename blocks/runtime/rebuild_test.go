//go:build unix

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"micro.dev/micro/internal/testkit"
)

// setVersion rewrites the version program's constant.
func setVersion(t *testing.T, dir, from, to string) {
	t.Helper()
	path := filepath.Join(dir, "main.go")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `const Version = "`+from+`"`, `const Version = "`+to+`"`, 1)
	if s == string(b) {
		t.Fatalf("main.go has no Version %q", from)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readiness is a WaitReady that lets the first instance through and holds
// each later one until the test opens the gate.
type readiness struct {
	mu    sync.Mutex
	calls []string
	gate  chan struct{}
	asked chan string
}

func newReadiness() *readiness {
	return &readiness{gate: make(chan struct{}), asked: make(chan string, 16)}
}

func (r *readiness) wait(ctx context.Context, ns, name, instance string) error {
	r.mu.Lock()
	r.calls = append(r.calls, instance)
	first := len(r.calls) == 1
	r.mu.Unlock()
	r.asked <- instance
	if first {
		return nil
	}
	select {
	case <-r.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestHotRebuildSwapsOnlyOnceTheNewVersionIsReady(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	ready := newReadiness()
	cfg.WaitReady = ready.wait
	e := newEnv(t, cfg)
	dir := testdata(t, "version")
	e.mustCreate("version", dir, nil, true)
	first := e.waitStatus("version", StatusRunning, 30*time.Second)
	<-ready.asked
	e.waitLog("version", "registered", 10*time.Second)
	e.waitLog("version", "version v1", 10*time.Second)
	old := e.processes("version")[0].PGID

	setVersion(t, dir, "v1", "v2")
	var inst string
	select {
	case inst = <-ready.asked:
	case <-time.After(60 * time.Second):
		t.Fatal("no new instance started after the edit")
	}
	// The new version runs beside the old one until it is ready.
	e.waitLog("version", "version v2 started", 10*time.Second)
	if groupGone(old) {
		t.Fatal("old version stopped before the new one was ready")
	}
	if svc := e.service("version"); Status(svc.Status) != StatusStarting {
		t.Errorf("status during the swap = %v; want starting", Status(svc.Status))
	}
	close(ready.gate)
	testkit.Eventually(t, 10*time.Second, "the old version to stop", func() bool { return groupGone(old) })
	svc := e.waitStatus("version", StatusRunning, 10*time.Second)
	if svc.Metadata["build"] == first.Metadata["build"] {
		t.Errorf("build %q unchanged after the rebuild", svc.Metadata["build"])
	}
	var procs []Process
	testkit.Eventually(t, 10*time.Second, "only the new instance to be recorded", func() bool {
		procs = e.processes("version")
		return len(procs) == 1 && procs[0].Instance == inst
	})
	e.waitLog("version", "version v1 stopping", 5*time.Second)

	// A compile error: the old version keeps running, the error is in the
	// status and the logs.
	cur := procs[0].PGID
	if err := os.WriteFile(filepath.Join(dir, "broken.go"), []byte("package main\n\nfunc broken() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc = e.waitStatus("version", StatusError, 60*time.Second)
	if msg := svc.Metadata["error"]; !strings.Contains(msg, "broken.go:3") || !strings.Contains(msg, "undefinedThing") ||
		!strings.Contains(msg, "previous version is still running") {
		t.Errorf("error = %q; want the compiler's message", msg)
	}
	e.waitLog("version", "undefinedThing", time.Second)
	if groupGone(cur) {
		t.Fatal("a failed build stopped the running version")
	}
	before := len(e.logs("version"))
	testkit.Eventually(t, 5*time.Second, "the old version to keep logging", func() bool { return len(e.logs("version")) > before+3 })

	// Fixing it (in a new directory, which is watched too) swaps again.
	if err := os.Remove(filepath.Join(dir, "broken.go")); err != nil {
		t.Fatal(err)
	}
	e.waitStatus("version", StatusRunning, 60*time.Second)
	sub := filepath.Join(dir, "extra")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the new directory to be watched", func() bool {
		return e.rt.unit(Key{"micro", "version", "latest"}).watcher.watching(sub)
	})
	setVersion(t, dir, "v2", "v3")
	e.waitLog("version", "version v3 started", 60*time.Second)
}

func TestWatcherIgnoresEditorFiles(t *testing.T) {
	for name, want := range map[string]bool{
		"main.go": true, "go.mod": true, "main.go~": false, ".main.go.swp": false, "4913": false,
		"#main.go#": false, ".#main.go": false, "x.tmp": false,
	} {
		if got := !ignoredFile(name); got != want {
			t.Errorf("relevant(%q) = %v; want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{".git": true, "vendor": true, "node_modules": true, ".idea": true, "handler": false} {
		if got := ignoredDir(name); got != want {
			t.Errorf("ignoredDir(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestWatcherIgnoresTheDatabaseAndCacheInsideTheSource(t *testing.T) {
	root := "/src/svc"
	w := &watcher{root: root, ignore: []string{"/src/svc/micro.db", "/src/svc/micro.db-wal", "/src/svc/micro.db.cache"}}
	for name, want := range map[string]bool{
		"/src/svc/main.go": true, "/src/svc/micro.db": false, "/src/svc/micro.db-wal": false,
		"/src/svc/micro.db.cache/services/x/bin/svc-1": false, "/src/svc/handler/h.go": true,
		"/src/svc/vendor/x/y.go": false, "/src/svc/.git/index": false,
	} {
		if got := w.relevant(fsnotify.Event{Name: name, Op: fsnotify.Write}); got != want {
			t.Errorf("relevant(%s) = %v; want %v", name, got, want)
		}
	}
	if w.relevant(fsnotify.Event{Name: "/src/svc/main.go", Op: fsnotify.Chmod}) {
		t.Error("a chmod is not a change")
	}
}

// A program that never registers (not built on the framework) still runs
// and is still swapped on save: only registering services wait for it.
func TestServiceThatNeverRegisters(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.ReadyTimeout = 300 * time.Millisecond
	cfg.WaitReady = func(ctx context.Context, _, _, _ string) error {
		<-ctx.Done()
		return ctx.Err()
	}
	e := newEnv(t, cfg)
	dir := testdata(t, "version")
	e.mustCreate("version", dir, nil, true)
	e.waitStatus("version", StatusRunning, 30*time.Second)
	e.waitLog("version", "not registered within 300ms; it keeps running", 10*time.Second)
	old := e.processes("version")[0].PGID
	setVersion(t, dir, "v1", "v2")
	e.waitLog("version", "version v2 started", 60*time.Second)
	testkit.Eventually(t, 10*time.Second, "the old version to stop", func() bool { return groupGone(old) })
	e.waitStatus("version", StatusRunning, 10*time.Second)
}

// A service that registers is running from then on, not once Settle has
// also passed: micro status must not call starting a service that answers.
func TestStatusRunningOnceRegistered(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Settle = time.Hour
	ready := newReadiness()
	cfg.WaitReady = ready.wait
	e := newEnv(t, cfg)
	e.mustCreate("version", testdata(t, "version"), nil, false)
	svc := e.waitStatus("version", StatusRunning, 60*time.Second)
	if svc.Metadata["build"] == "" || svc.Metadata["started"] == "" {
		t.Errorf("running without build and started: %v", svc.Metadata)
	}
	e.waitLog("version", "registered", 10*time.Second)
}
