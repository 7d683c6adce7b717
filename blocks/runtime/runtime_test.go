//go:build unix

package runtime

import (
	"context"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/runtime"
)

func TestRunBuildsStartsAndCapturesLogs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend func(*Config)) {
		cfg := testConfig(t)
		backend(&cfg)
		cfg.MintAccount = func(_ context.Context, ns, name string) (string, string, error) {
			return name + "@" + ns, "secret", nil
		}
		e := newEnv(t, cfg)
		dir := testdata(t, "ticker")
		e.mustCreate("ticker", dir, []string{"FOO=bar"}, false)

		svc := e.waitStatus("ticker", StatusRunning, 30*time.Second)
		if svc.Source != dir || svc.Version != "latest" {
			t.Errorf("service = %v; want source %s, version latest", svc, dir)
		}
		if svc.Metadata["build"] == "" || svc.Metadata["started"] == "" || svc.Metadata["owner"] != "admin" {
			t.Errorf("metadata = %v; want build, started and owner admin (the caller)", svc.Metadata)
		}
		e.waitLog("ticker", "ticker tick 3", 10*time.Second)
		started := e.waitLog("ticker", "ticker started", time.Second)
		for _, want := range []string{"name=ticker ", "version=latest ", "ns=micro ", "proxy=127.0.0.1:8081 ",
			"network=127.0.0.1:8081 ", "auth=ticker@micro ", "client=ticker@micro ", "foo=bar"} {
			if !strings.Contains(started, want) {
				t.Errorf("start line %q lacks %q", started, want)
			}
		}
		if !regexp.MustCompile(`instance=[0-9a-f]{24} `).MatchString(started) {
			t.Errorf("start line %q lacks the instance id", started)
		}
		e.waitLog("ticker", "ticker writes to stderr too", time.Second)
		e.waitLog("ticker", "[runtime] built in", time.Second)

		// A since beyond any time reads everything, without wrapping around
		// to a time in the future.
		all, err := e.client.Logs(ctx(t), &pb.LogsRequest{Service: "ticker", Since: math.MaxInt64})
		if err != nil {
			t.Fatal(err)
		}
		if rec, err := all.Recv(); err != nil || rec.Message == "" {
			t.Fatalf("logs since MaxInt64 seconds: %v %v", rec, err)
		}

		// Each process is the leader of its own group.
		procs := e.processes("ticker")
		if len(procs) != 1 {
			t.Fatalf("processes = %v; want 1", procs)
		}
		if !strings.Contains(started, "pgid="+strconv.Itoa(procs[0].PGID)) || !strings.Contains(started, "pid="+strconv.Itoa(procs[0].PGID)) {
			t.Errorf("start line %q: want pid = pgid = %d", started, procs[0].PGID)
		}

		// The tail and follow.
		stream, err := e.client.Logs(ctx(t), &pb.LogsRequest{Service: "ticker", Count: 2, Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < 6 {
			rec, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.Message)
		}
		ticks := 0
		for _, l := range got {
			if strings.HasPrefix(l, "ticker tick ") {
				ticks++
			}
		}
		if ticks < 4 {
			t.Errorf("followed lines %q: want ticks arriving", got)
		}
	})
}

func TestCrashIsRestartedWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t))
	e.mustCreate("crasher", testdata(t, "crasher"), nil, false)

	var svc *pb.Service
	testkit.Eventually(t, 30*time.Second, "retries to reach 4", func() bool {
		svc = e.service("crasher")
		n, _ := strconv.Atoi(svc.Metadata["retries"])
		return n >= 4
	})
	if Status(svc.Status) != StatusError && Status(svc.Status) != StatusStarting {
		t.Errorf("status = %v; want error (or starting between retries)", Status(svc.Status))
	}
	if got := svc.Metadata["error"]; got != "process exited: exit status 1" {
		// A restart may have just begun; the last crash's error is kept.
		if Status(svc.Status) == StatusError {
			t.Errorf("error = %q; want process exited: exit status 1", got)
		}
	}
	// The runtime's notes show the delays doubling: 50ms, 100ms, 200ms.
	logs := strings.Join(e.logs("crasher"), "\n")
	for _, want := range []string{"crashing", "restarting in 50ms", "restarting in 100ms", "restarting in 200ms"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestKillStopsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.StopGrace = 500 * time.Millisecond
	e := newEnv(t, cfg)
	// The ticker starts a copy of itself in its group, and both ignore
	// SIGTERM: only the SIGKILL after the grace period stops them.
	e.mustCreate("ticker", testdata(t, "ticker"), []string{"TICKER_SPAWN=1", "TICKER_IGNORE_TERM=1"}, false)
	e.waitStatus("ticker", StatusRunning, 30*time.Second)
	child := e.waitLog("ticker", "spawned child pid=", 10*time.Second)
	childPID, _ := strconv.Atoi(strings.TrimPrefix(child, "spawned child pid="))
	e.waitLog("ticker", "child tick", 10*time.Second)
	procs := e.processes("ticker")
	if len(procs) != 1 || childPID == 0 {
		t.Fatalf("processes = %v, child %d", procs, childPID)
	}
	pgid := procs[0].PGID
	if groupGone(pgid) {
		t.Fatal("group not running")
	}

	if _, err := e.client.Delete(ctx(t), &pb.DeleteRequest{Resource: &pb.Resource{Service: &pb.Service{Name: "ticker"}}}); err != nil {
		t.Fatal(err)
	}
	// Delete returns once the group is gone.
	if !groupGone(pgid) || pidAlive(childPID) {
		t.Errorf("after kill: group %d gone %v, child %d alive %v", pgid, groupGone(pgid), childPID, pidAlive(childPID))
	}
	if svc := e.service("ticker"); svc != nil {
		t.Errorf("service still listed: %v", svc)
	}
	if len(e.processes("ticker")) != 0 {
		t.Error("process still recorded")
	}
	_, err := e.client.Logs(ctx(t), &pb.LogsRequest{Service: "ticker"})
	if err == nil {
		stream, _ := e.client.Logs(ctx(t), &pb.LogsRequest{Service: "ticker"})
		_, err = stream.Recv()
	}
	if errCode(err) != 404 {
		t.Errorf("logs after kill: %v; want 404", err)
	}
	if _, err := e.client.Delete(ctx(t), &pb.DeleteRequest{Resource: &pb.Resource{Service: &pb.Service{Name: "ticker"}}}); errCode(err) != 404 {
		t.Errorf("second kill: %v; want 404", err)
	}
}

func TestRestoreAfterRestart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend func(*Config)) {
		cfg := testConfig(t)
		backend(&cfg)
		e := newEnv(t, cfg)
		e.mustCreate("ticker", testdata(t, "ticker"), nil, false)
		e.waitStatus("ticker", StatusRunning, 30*time.Second)
		e.waitLog("ticker", "ticker tick 2", 10*time.Second)
		first := e.processes("ticker")[0].PGID

		e.close() // a clean server shutdown
		if !groupGone(first) {
			t.Fatalf("group %d survived the shutdown", first)
		}
		e.open()
		e.waitStatus("ticker", StatusRunning, 30*time.Second)
		procs := e.processes("ticker")
		if len(procs) != 1 || procs[0].PGID == first {
			t.Fatalf("processes after restart = %v (first was %d)", procs, first)
		}
		logs := e.logs("ticker")
		starts := 0
		for _, l := range logs {
			if strings.HasPrefix(l, "ticker started") {
				starts++
			}
		}
		if starts < 1 || !strings.Contains(strings.Join(logs, "\n"), "ticker tick 2") {
			t.Fatalf("logs after restart lost the first run's lines:\n%s", strings.Join(logs, "\n"))
		}
		e.waitLog("ticker", "server started: rebuilding", time.Second)
		testkit.Eventually(t, 10*time.Second, "two runs in the logs", func() bool {
			n := 0
			for _, l := range e.logs("ticker") {
				if strings.HasPrefix(l, "ticker started") {
					n++
				}
			}
			return n == 2
		})
	})
}

func TestRestoreRebuildsFromSnapshotWhenDirectoryIsGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t))
	dir := testdata(t, "version")
	e.mustCreate("version", dir, nil, false)
	e.waitStatus("version", StatusRunning, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, "the snapshot to be stored", func() bool {
		_, ok, _ := e.rt.backend.GetSource(context.Background(), Key{"micro", "version", "latest"})
		return ok
	})
	e.close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	e.open()
	e.waitStatus("version", StatusRunning, 30*time.Second)
	e.waitLog("version", "is gone; building from the snapshot", time.Second)
}
