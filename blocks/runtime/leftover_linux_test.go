package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

func TestLeftoverProcessGroupsAreStoppedAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t))
	e.mustCreate("ticker", testdata(t, "ticker"), []string{"TICKER_SPAWN=1"}, false)
	e.waitStatus("ticker", StatusRunning, 30*time.Second)
	e.waitLog("ticker", "child tick", 10*time.Second)
	p := e.processes("ticker")[0]

	// A server killed with -9 cannot stop its services. Pdeathsig kills the
	// leader, not what it started; simulate that state by killing the
	// leader alone and keeping the record, as a dead server would leave it.
	// The unit would restart it, so stop the unit without the runtime's
	// help: take it out of the runtime first.
	u := e.rt.unit(p.Key)
	e.rt.dropUnit(u)
	u.mu.Lock()
	u.cancel() // the unit ends ...
	u.mu.Unlock()
	<-u.done // ... and stops the group it owns; re-create the leftover by hand
	if !groupGone(p.PGID) {
		t.Fatal("unit did not stop its group")
	}
	leftover := startLeftover(t, e, p.Key)
	if err := e.rt.backend.AddProcess(context.Background(), leftover); err != nil {
		t.Fatal(err)
	}
	e.rt.reapLeftovers(context.Background())
	if !groupGone(leftover.PGID) {
		t.Errorf("leftover group %d still running", leftover.PGID)
	}
	for _, p := range e.processes("ticker") {
		if p.PGID == leftover.PGID {
			t.Error("leftover still recorded")
		}
	}
}

// startLeftover starts the ticker's last binary the way the runtime does,
// outside any unit: a stand-in for a process a killed server left running.
func startLeftover(t *testing.T, e *testEnv, k Key) Process {
	t.Helper()
	bins, _ := filepath.Glob(filepath.Join(e.cfg.CacheDir, "services", "*", "bin", "*"))
	if len(bins) == 0 {
		t.Fatal("no binary in the cache")
	}
	inst := newInstanceID()
	p, err := startProcess(procSpec{bin: bins[0], dir: t.TempDir(), instance: inst,
		env: append(os.Environ(), "TICKER_SPAWN=1", "MICRO_INSTANCE_ID="+inst),
		output: func(_ string, f *os.File) {
			defer f.Close()
			buf := make([]byte, 4096)
			for {
				if _, err := f.Read(buf); err != nil {
					return
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(p) })
	testkit.Eventually(t, 10*time.Second, "the leftover's child", func() bool { return len(groupMembers(p.pgid)) >= 2 })
	return Process{PGID: p.pgid, Instance: inst, Key: k, Started: p.started}
}
