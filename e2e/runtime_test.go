//go:build unix

package e2e

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// copyTestdata copies testdata/runtime/<name> into a temp directory, so
// edits stay out of the repository.
func copyTestdata(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "testdata", "runtime", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// statusOf returns the status column of name in micro status, "" when it
// is not listed.
func statusOf(c *cli, name string) (status, line string) {
	out, _, _ := c.run("status")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[0] == name {
			return f[3], l
		}
	}
	return "", ""
}

func waitStatus(t *testing.T, c *cli, name, want string) string {
	t.Helper()
	var line string
	testkit.Eventually(t, 60*time.Second, name+" "+want, func() bool {
		var st string
		st, line = statusOf(c, name)
		return st == want
	})
	return line
}

func waitLogs(t *testing.T, c *cli, name, substr string) string {
	t.Helper()
	var found string
	testkit.Eventually(t, 60*time.Second, "logs of "+name+" containing "+substr, func() bool {
		out, _, _ := c.run("logs", "-n", "0", name)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, substr) {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

func startedPID(t *testing.T, line string) int {
	t.Helper()
	m := pidRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no pid in %q", line)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// processGone reports whether pid has exited (a zombie waiting for a
// reaper counts as gone).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// TestRuntimeTour runs services through the real binary: run, status,
// logs, a compile error, a hot rebuild, a crash, an upload and kill.
func TestRuntimeTour(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)

	ticker := copyTestdata(t, "ticker")
	c.ok("run", ticker, "--env_vars", "FOO=bar,BAZ=qux")
	line := waitStatus(t, c, "ticker", "running")
	header, _, _ := c.run("status")
	if !strings.HasPrefix(header, "NAME") || !strings.Contains(header, "VERSION  SOURCE") ||
		!regexp.MustCompile(`^NAME\s+VERSION\s+SOURCE\s+STATUS\s+BUILD\s+UPDATED\s+METADATA\n`).MatchString(header) {
		t.Errorf("status header: %q", header)
	}
	if !strings.Contains(line, "latest") || !strings.Contains(line, ticker) || !strings.Contains(line, "owner=admin, group=micro") ||
		!regexp.MustCompile(`\s[0-9a-f]{7}\s+\d+s ago`).MatchString(line) {
		t.Errorf("status line: %q", line)
	}
	started := waitLogs(t, c, "ticker", "ticker started")
	if !strings.Contains(started, "foo=bar") || !strings.Contains(started, "proxy="+s.proxy) || !strings.Contains(started, "name=ticker") {
		t.Errorf("service environment: %q", started)
	}
	waitLogs(t, c, "ticker", "ticker tick 3")
	if out := c.ok("logs", "-n", "2", "ticker"); len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Errorf("logs -n 2: %q", out)
	}

	// logs -f follows.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	follow := exec.CommandContext(ctx, microBin, "logs", "-f", "-n", "1", "ticker")
	follow.Env = c.env
	stdout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	ticks := 0
	for ticks < 3 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ticker tick") {
			ticks++
		}
	}
	follow.Process.Signal(syscall.SIGINT)
	follow.Wait()
	if ticks < 3 {
		t.Errorf("logs -f printed %d ticks", ticks)
	}

	// Bad input: one clear line and a non-zero exit each.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", ticker}, "Service ticker is already running; use --force"},
		{[]string{"run", filepath.Join(t.TempDir(), "nope")}, "does not exist"},
		{[]string{"logs", "nope"}, "Service not found"},
		{[]string{"kill", "nope"}, "Service not found"},
		{[]string{"update", "nope"}, "Service not found"},
	} {
		_, errOut, code := c.run(tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("micro %v: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	broken := copyTestdata(t, "version")
	os.WriteFile(filepath.Join(broken, "main.go"), []byte("package main\n\nfunc main() { nope() }\n"), 0o644)
	if _, errOut, code := c.run("run", broken, "--name", "broken"); code != 1 || !strings.Contains(errOut, "Build failed: ./main.go:3:15: undefined: nope") {
		t.Errorf("compile error: exit %d, stderr %q", code, errOut)
	}
	if st, line := statusOf(c, "broken"); st != "error" || !strings.Contains(line, "undefined: nope") {
		t.Errorf("status of a failed build: %q", line)
	}

	// Hot rebuild: save a file, the new version runs; time it against a
	// plain go build of the same service.
	version := copyTestdata(t, "version")
	c.ok("run", version)
	waitStatus(t, c, "version", "running")
	main := filepath.Join(version, "main.go")
	src, _ := os.ReadFile(main)
	saved := time.Now()
	os.WriteFile(main, []byte(strings.Replace(string(src), `"v1"`, `"v2"`, 1)), 0o644)
	waitLogs(t, c, "version", "version v2 started")
	swap := time.Since(saved)
	// The baseline compiles an edit too: a copy with a constant never built.
	plain := copyTestdata(t, "version")
	os.WriteFile(filepath.Join(plain, "main.go"), []byte(strings.Replace(string(src), `"v1"`, strconv.Quote(plain), 1)), 0o644)
	build := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "v"), ".")
	build.Dir = plain
	buildStart := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("save to new version running: %s; plain go build of the same service: %s", swap.Round(time.Millisecond), time.Since(buildStart).Round(time.Millisecond))

	// micro update rebuilds on demand; the same code is left running.
	c.ok("update", version)
	waitLogs(t, c, "version", "build unchanged; the running version stays")

	// A crash is restarted with backoff, shown in status.
	c.ok("run", copyTestdata(t, "crasher"))
	testkit.Eventually(t, 60*time.Second, "crasher retries", func() bool {
		_, line := statusOf(c, "crasher")
		return strings.Contains(line, "retries=2") || strings.Contains(line, "retries=3")
	})
	waitLogs(t, c, "crasher", "process exited (exit status 1)")

	// An uploaded source (as for a remote server).
	up := copyTestdata(t, "ticker")
	c.ok("run", "--upload", "--name", "uploaded", up)
	waitStatus(t, c, "uploaded", "running")
	waitLogs(t, c, "uploaded", "ticker tick 1")

	// micro run --watch against a remote server re-uploads on save.
	remote := copyTestdata(t, "version")
	watch := exec.CommandContext(ctx, microBin, "run", "--upload", "--watch", "--name", "remote", remote)
	watch.Env = c.env
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "remote", "running")
	waitLogs(t, c, "remote", "version v1 started")
	rsrc, _ := os.ReadFile(filepath.Join(remote, "main.go"))
	os.WriteFile(filepath.Join(remote, "main.go"), []byte(strings.Replace(string(rsrc), `"v1"`, `"v2"`, 1)), 0o644)
	waitLogs(t, c, "remote", "version v2 started")
	watch.Process.Signal(syscall.SIGINT)
	if err := watch.Wait(); err != nil {
		t.Errorf("micro run --watch after Ctrl-C: %v", err)
	}

	// kill stops the process and removes the service.
	pid := startedPID(t, started)
	c.ok("kill", "ticker")
	if !processGone(pid) {
		t.Errorf("ticker pid %d still running after kill", pid)
	}
	if st, _ := statusOf(c, "ticker"); st != "" {
		t.Errorf("ticker still listed: %s", st)
	}
	c.ok("kill", "crasher", "uploaded", "version", "broken", "remote")
	if out := c.ok("status"); out != "no services running\n" {
		t.Errorf("status after killing everything: %q", out)
	}
}

// TestRuntimeRestoresAfterRestart: services come back, with their logs,
// after a clean restart and after kill -9 of the server.
func TestRuntimeRestoresAfterRestart(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "micro.db")
	s := startServer(t, data)
	c := newAdminCLI(t, s)
	c.ok("run", copyTestdata(t, "ticker"), "--env_vars", "TICKER_SPAWN=1")
	waitStatus(t, c, "ticker", "running")
	first := startedPID(t, waitLogs(t, c, "ticker", "ticker started"))
	child := startedPID(t, waitLogs(t, c, "ticker", "spawned child"))
	waitLogs(t, c, "ticker", "child tick")

	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		s.stop(sig)
		// SIGTERM: the server stops its services; SIGKILL: the kernel kills
		// the leader (Pdeathsig), the next server stops what it started.
		testkit.Eventually(t, 10*time.Second, "the ticker to stop with the server", func() bool { return processGone(first) })
		s = startServer(t, data)
		c = newAdminCLI(t, s)
		waitStatus(t, c, "ticker", "running")
		testkit.Eventually(t, 10*time.Second, "the old child to be stopped", func() bool { return processGone(child) })
		out := c.ok("logs", "-n", "0", "ticker")
		if n := strings.Count(out, "ticker started"); n != i+2 {
			t.Fatalf("after %v: %d starts in the logs, want %d (logs kept across restarts):\n%s", sig, n, i+2, out)
		}
		var lastStart string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "ticker started") {
				lastStart = l
			}
		}
		if pid := startedPID(t, lastStart); pid == first {
			t.Fatalf("after %v: same pid %d", sig, pid)
		} else {
			first = pid
		}
		testkit.Eventually(t, 10*time.Second, "a new child", func() bool {
			out := c.ok("logs", "-n", "0", "ticker")
			idx := strings.LastIndex(out, "spawned child pid=")
			if idx < 0 {
				return false
			}
			child = startedPID(t, out[idx:])
			return !processGone(child)
		})
	}
	s.stop(syscall.SIGTERM)
	testkit.Eventually(t, 10*time.Second, "everything to stop", func() bool { return processGone(first) && processGone(child) })
}
