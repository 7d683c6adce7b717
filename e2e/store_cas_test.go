package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStoreCompareAndSetAndWatch: a write with a stale --if-revision fails
// with a clear message; store watch prints changes as they happen and ends
// cleanly on Ctrl-C.
func TestStoreCompareAndSetAndWatch(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)

	c.ok("store", "write", "--if-revision", "0", "counter", "1")
	if out := c.ok("store", "read", "-v", "counter"); !strings.Contains(out, "REVISION") || !strings.Contains(out, "counter  1      None    1") {
		t.Fatalf("read -v: %q", out)
	}
	c.ok("store", "write", "--if-revision", "1", "counter", "2")
	out, errOut, code := c.run("store", "write", "--if-revision", "1", "counter", "3")
	if code == 0 || !strings.Contains(errOut, "revision does not match") || !strings.Contains(errOut, "revision 2") {
		t.Fatalf("stale write: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if out := c.ok("store", "read", "counter"); out != "2\n" {
		t.Fatalf("value after conflict: %q", out)
	}
	_, errOut, code = c.run("store", "delete", "--if-revision", "7", "counter")
	if code == 0 || !strings.Contains(errOut, "revision 2") {
		t.Fatalf("stale delete: exit %d stderr %q", code, errOut)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := exec.CommandContext(ctx, microBin, "store", "watch", "--prefix", "watched/")
	w.Env = c.env
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The watch may not be subscribed yet: write until it reports a change.
	var line string
	for line == "" {
		c.ok("store", "write", "watched/a", "hello")
		c.ok("store", "write", "other", "x") // outside the prefix
		select {
		case line = <-lines:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("store watch printed nothing")
		}
	}
	f := strings.Split(line, "\t")
	if len(f) != 4 || (f[0] != "create" && f[0] != "update") || f[1] != "watched/a" || f[3] != "hello" {
		t.Fatalf("watch line %q", line)
	}
	c.ok("store", "delete", "watched/a")
	for l := range lines {
		if strings.HasPrefix(l, "delete\twatched/a\t") {
			break
		}
		if !strings.HasPrefix(l, "update\twatched/a\t") {
			t.Fatalf("unexpected watch line %q", l)
		}
	}
	if err := w.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("watch after Ctrl-C: %v", err)
	}
}
