package sync_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/sync"
	"micro.dev/micro/node/nodetest"
)

// TestMain runs the child processes of the tests when asked.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SYNC_TEST_MODE"); mode != "" {
		if err := child(mode, os.Getenv("SYNC_TEST_PROXY"), os.Getenv("SYNC_TEST_FILE")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const rounds = 15

func child(mode, proxy, file string) error {
	c, err := client.New(client.Options{Proxy: proxy, ID: "admin", Secret: "micro", Service: "billing"})
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch mode {
	case "contend":
		// Each critical section writes start and end lines to a shared
		// file; if two held the lock at once, their lines would interleave.
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		for range rounds {
			l, err := sync.Acquire(ctx, "billing-run", sync.TTL(5*time.Second), sync.WithClient(c))
			if err != nil {
				return err
			}
			fmt.Fprintf(f, "start %d %d\n", l.Token, os.Getpid())
			time.Sleep(3 * time.Millisecond)
			fmt.Fprintf(f, "end %d %d\n", l.Token, os.Getpid())
			if err := l.Release(); err != nil {
				return err
			}
		}
		return nil
	case "hold":
		l, err := sync.Acquire(ctx, "billing-run", sync.TTL(holdTTL), sync.WithClient(c))
		if err != nil {
			return err
		}
		fmt.Println("token", l.Token)
		select {}
	case "lead":
		return sync.Leader(ctx, "scheduler", func(ctx context.Context) {
			l, _ := sync.LeaseFrom(ctx)
			fmt.Println("leader", l.Token)
			<-ctx.Done()
		}, sync.TTL(2*time.Second), sync.WithClient(c))
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func spawn(t *testing.T, mode, proxy, file string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SYNC_TEST_MODE="+mode, "SYNC_TEST_PROXY="+proxy, "SYNC_TEST_FILE="+file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out), stderr
}

// TestTwoProcessesNeverHoldItAtOnce: two processes take and release one
// lock 15 times each; their critical sections never overlap and the
// fencing tokens grow.
func TestTwoProcessesNeverHoldItAtOnce(t *testing.T) {
	n := nodetest.Start(t)
	file := t.TempDir() + "/sections"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, _, aerr := spawn(t, "contend", n.Proxy(), file)
	b, _, berr := spawn(t, "contend", n.Proxy(), file)
	if err := a.Wait(); err != nil {
		t.Fatalf("first: %v %s", err, aerr)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("second: %v %s", err, berr)
	}
	data, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4*rounds {
		t.Fatalf("%d lines, want %d", len(lines), 4*rounds)
	}
	var last uint64
	pids := map[string]int{}
	for i := 0; i < len(lines); i += 2 {
		s, e := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if s[0] != "start" || e[0] != "end" || s[1] != e[1] || s[2] != e[2] {
			t.Fatalf("sections overlap at line %d: %q then %q", i+1, lines[i], lines[i+1])
		}
		tok, _ := strconv.ParseUint(s[1], 10, 64)
		if tok <= last {
			t.Fatalf("token %d after %d", tok, last)
		}
		last = tok
		pids[s[2]]++
	}
	if len(pids) != 2 {
		t.Fatalf("holders %v", pids)
	}
}

// TestHolderKilledLosesTheLease: a holder killed with SIGKILL keeps the
// lease until its TTL runs out, then another gets it with a larger token.
// holdTTL is the TTL of the holder's lease: long enough that the test's
// next call, on a loaded machine, comes before it runs out.
const holdTTL = 10 * time.Second

func TestHolderKilledLosesTheLease(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "billing"})
	cmd, out, stderr := spawn(t, "hold", n.Proxy(), "")
	if !out.Scan() {
		t.Fatalf("the holder printed nothing: %s", stderr)
	}
	held, _ := strconv.ParseUint(strings.TrimPrefix(out.Text(), "token "), 10, 64)
	cmd.Process.Kill()
	cmd.Wait()

	// The lease is renewed every holdTTL/3 and lasts holdTTL: right after
	// the kill it is still held.
	if _, err := sync.TryAcquire(t.Context(), "billing-run", sync.WithClient(c)); err != sync.ErrHeld {
		t.Fatalf("right after the kill: %v, want ErrHeld", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := sync.Acquire(ctx, "billing-run", sync.WithClient(c))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Token <= held {
		t.Fatalf("token %d after the killed holder's %d", l.Token, held)
	}
}

// TestLeaderHandsOver: two processes campaign; one leads, the other takes
// over when the leader is killed.
func TestLeaderHandsOver(t *testing.T) {
	n := nodetest.Start(t)
	type proc struct {
		cmd    *exec.Cmd
		lines  chan string
		stderr *strings.Builder
	}
	procs := make([]proc, 2)
	for i := range procs {
		cmd, out, stderr := spawn(t, "lead", n.Proxy(), "")
		lines := make(chan string, 10)
		go func() {
			for out.Scan() {
				lines <- out.Text()
			}
			close(lines)
		}()
		procs[i] = proc{cmd, lines, stderr}
	}
	first, tok := -1, uint64(0)
	timeout := time.After(time.Minute)
	select {
	case l := <-procs[0].lines:
		first, tok = 0, parseLeader(t, l)
	case l := <-procs[1].lines:
		first, tok = 1, parseLeader(t, l)
	case <-timeout:
		t.Fatalf("no leader: %s %s", procs[0].stderr, procs[1].stderr)
	}
	other := procs[1-first]
	select {
	case l := <-other.lines:
		t.Fatalf("two leaders at once: %q while the first leads", l)
	default:
	}
	procs[first].cmd.Process.Kill()
	select {
	case l := <-other.lines:
		if next := parseLeader(t, l); next <= tok {
			t.Fatalf("new leader's token %d after %d", next, tok)
		}
	case <-timeout:
		t.Fatalf("no new leader after the first was killed: %s", other.stderr)
	}
}

func parseLeader(t *testing.T, line string) uint64 {
	t.Helper()
	tok, err := strconv.ParseUint(strings.TrimPrefix(line, "leader "), 10, 64)
	if err != nil {
		t.Fatalf("line %q", line)
	}
	return tok
}

// TestServiceAccounts: a service's account takes leases in its namespace;
// namespaces do not share names; another namespace's is refused.
func TestServiceAccounts(t *testing.T) {
	n := nodetest.Start(t)
	acme := n.ServiceAccount("acme", "billing")
	other := n.ServiceAccount("other", "billing")
	l, err := sync.TryAcquire(t.Context(), "billing-run", sync.WithClient(acme))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := sync.TryAcquire(t.Context(), "billing-run", sync.WithClient(acme)); err != sync.ErrHeld {
		t.Fatalf("second acquire in acme: %v", err)
	}
	lo, err := sync.TryAcquire(t.Context(), "billing-run", sync.WithClient(other))
	if err != nil {
		t.Fatalf("the same name in another namespace: %v", err)
	}
	lo.Release()
	_, err = sync.TryAcquire(t.Context(), "billing-run", sync.WithClient(other), sync.Namespace("acme"))
	if c := errors.Code(err); c != 403 {
		t.Fatalf("acme's lease from namespace other: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := sync.TryAcquire(t.Context(), "billing-run", sync.WithClient(acme)); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
