//go:build unix

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

// offlineGo is the environment of every go command in these tests: no
// network, so a new service must build from the module cache alone.
var offlineGo = []string{"GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local"}

// runAt runs micro with args in dir as c and fails the test unless it
// exits 0.
func (c *cli) runAt(dir string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, args...)
	cmd.Dir, cmd.Env = dir, c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("micro %s (in %s): %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), dir, err, out.String(), errb.String())
	}
	return out.String()
}

// callMsg GETs url and returns the status and body; err for a failed request.
func callMsg(client *http.Client, url string) (int, string, error) {
	rsp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b), err
}

// waitCall polls url until it answers 200 with want.
func waitCall(t *testing.T, url, want string) {
	t.Helper()
	var code int
	var body string
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("GET %s to answer %s (last: %d %s)", url, want, code, body), func() bool {
		code, body, _ = callMsg(http.DefaultClient, url)
		return code == 200 && body == want
	})
}

// hammer calls url from two goroutines until stopped, counting answers by
// body and every failure (a transport error or a status other than 200).
type hammer struct {
	mu       sync.Mutex
	answers  map[string]int
	failures []string
	calls    atomic.Int64
	stop     chan struct{}
	done     sync.WaitGroup
}

func startHammer(url string) *hammer {
	h := &hammer{answers: map[string]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second}
	for range 2 {
		h.done.Add(1)
		go func() {
			defer h.done.Done()
			for {
				select {
				case <-h.stop:
					return
				default:
				}
				code, body, err := callMsg(client, url)
				h.calls.Add(1)
				h.mu.Lock()
				switch {
				case err != nil:
					h.failures = append(h.failures, err.Error())
				case code != 200:
					h.failures = append(h.failures, fmt.Sprintf("%d %s", code, body))
				default:
					h.answers[body]++
				}
				h.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return h
}

func (h *hammer) count(body string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.answers[body]
}

func (h *hammer) finish() (answers map[string]int, failures []string) {
	close(h.stop)
	h.done.Wait()
	return h.answers, h.failures
}

// TestNewServiceTour is the developer loop of the README with a service
// from micro new: scaffold, build offline, run, call, edit and see the new
// answer with no failed call during the swap, update, a second service
// with its environment, kill, and server restarts (SIGTERM, then kill -9)
// that bring the running service back.
func TestNewServiceTour(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	data := filepath.Join(t.TempDir(), "micro.db")
	// The runtime's builds inherit the server's environment: offline, and
	// with go.mod and go.sum as micro new wrote them (-mod=readonly).
	serverEnv := append([]string{"GOFLAGS=-mod=readonly -buildvcs=false"}, offlineGo...)
	s := startServerEnv(t, data, serverEnv)
	c := newAdminCLI(t, s)
	c.env = append(c.env, "MICRO_FRAMEWORK_DIR="+root)

	// Scaffold, and build the result by hand, offline.
	out := c.runAt(work, "new", "helloworld")
	for _, want := range []string{"Creating service helloworld", "├── handler\n│   └── helloworld.go",
		"│   ├── helloworld.pb.go\n│   └── helloworld.pb.micro.go", "go.mod builds against the framework in " + root,
		"cd helloworld\n  micro run ."} {
		if !strings.Contains(out, want) {
			t.Fatalf("micro new output lacks %q:\n%s", want, out)
		}
	}
	svc := filepath.Join(work, "helloworld")
	gomod, _ := os.ReadFile(filepath.Join(svc, "go.mod"))
	build := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "helloworld"), ".")
	build.Dir = svc
	build.Env = append(append(os.Environ(), offlineGo...), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the new service, offline: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(filepath.Join(svc, "go.mod")); !bytes.Equal(after, gomod) {
		t.Errorf("go build -mod=mod had to change go.mod:\n%s\nwas:\n%s", after, gomod)
	}

	// micro run ., status, logs, a call through the gateway.
	c.runAt(svc, "run", ".")
	line := waitStatus(t, c, "helloworld", "running")
	if !strings.Contains(line, "latest") || !strings.Contains(line, svc) {
		t.Errorf("status line: %q", line)
	}
	waitLogs(t, c, "helloworld", "Starting [service] helloworld")
	call := s.gateway + "/helloworld/Call?name=John"
	waitCall(t, call, `{"msg":"Hello John"}`)

	// Save an edit while callers hammer the endpoint: the new answer comes
	// within a bounded time and no call fails across the swap.
	oldNodes := nodes(t, s, "helloworld")
	if len(oldNodes) != 1 {
		t.Fatalf("helloworld nodes before the edit: %v", oldNodes)
	}
	h := startHammer(call)
	handler := filepath.Join(svc, "handler", "helloworld.go")
	src, _ := os.ReadFile(handler)
	edited := strings.Replace(string(src), `"Hello "`, `"Hi "`, 1)
	if edited == string(src) {
		t.Fatal(`the handler has no "Hello " to edit`)
	}
	saved := time.Now()
	if err := os.WriteFile(handler, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 90*time.Second, "the edited handler to answer", func() bool { return h.count(`{"msg":"Hi John"}`) > 0 })
	swap := time.Since(saved)
	// Keep calling until the old version has left the registry (it
	// deregisters, then drains), and a little after.
	testkit.Eventually(t, 30*time.Second, "the old version to deregister", func() bool {
		ids := nodes(t, s, "helloworld")
		return len(ids) == 1 && ids[0] != oldNodes[0]
	})
	afterStop := h.count(`{"msg":"Hi John"}`)
	testkit.Eventually(t, 30*time.Second, "calls after the old version stopped", func() bool { return h.count(`{"msg":"Hi John"}`) >= afterStop+50 })
	answers, failures := h.finish()
	t.Logf("swap: %d calls, answers %v, %d failed", h.calls.Load(), answers, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d calls failed during the swap, e.g. %q", len(failures), failures[:min(5, len(failures))])
	}
	for body := range answers {
		if body != `{"msg":"Hello John"}` && body != `{"msg":"Hi John"}` {
			t.Errorf("unexpected answer %q", body)
		}
	}
	waitCall(t, call, `{"msg":"Hi John"}`)
	// The baseline: a plain go build of the same service after an edit it
	// has never seen (a greeting no build has compiled).
	plain := filepath.Join(t.TempDir(), "plain")
	cp := exec.Command("cp", "-r", svc, plain)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(plain, "handler", "helloworld.go"), []byte(strings.Replace(edited, `"Hi "`, fmt.Sprintf("%q", plain), 1)), 0o644)
	build = exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "plain"), ".")
	build.Dir, build.Env = plain, append(os.Environ(), serverEnv...)
	buildStart := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("save to new answer: %s; plain go build of the same service: %s", swap.Round(time.Millisecond), time.Since(buildStart).Round(time.Millisecond))

	// micro update rebuilds on demand; the service keeps answering.
	c.runAt(svc, "update", ".")
	waitLogs(t, c, "helloworld", "build unchanged; the running version stays")
	waitCall(t, call, `{"msg":"Hi John"}`)

	// A second service from a subdirectory, with its own environment.
	c.runAt(work, "new", "other")
	otherHandler := filepath.Join(work, "other", "handler", "other.go")
	osrc, _ := os.ReadFile(otherHandler)
	osrcEdited := strings.Replace(string(osrc), `rsp.Msg = "Hello " + req.Name`, `rsp.Msg = os.Getenv("FOO") + "," + os.Getenv("BAZ") + " " + req.Name`, 1)
	osrcEdited = strings.Replace(osrcEdited, "\"log/slog\"\n", "\"log/slog\"\n\t\"os\"\n", 1)
	if err := os.WriteFile(otherHandler, []byte(osrcEdited), 0o644); err != nil {
		t.Fatal(err)
	}
	c.runAt(work, "run", "./other", "--name", "other", "--env_vars", "FOO=bar,BAZ=qux")
	waitStatus(t, c, "other", "running")
	otherCall := s.gateway + "/other/Call?name=env"
	waitCall(t, otherCall, `{"msg":"bar,qux env"}`)

	// kill stops helloworld; status no longer lists it and calls find no
	// service.
	c.ok("kill", "helloworld")
	if st, _ := statusOf(c, "helloworld"); st != "" {
		t.Errorf("helloworld still listed after kill: %s", st)
	}
	testkit.Eventually(t, 30*time.Second, "helloworld to be gone from the gateway", func() bool {
		code, body, _ := callMsg(http.DefaultClient, call)
		return code == 500 && strings.Contains(body, "service not found")
	})

	// Restarts: after a clean stop and after kill -9 the server rebuilds
	// and starts other again, with its environment and its logs.
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		s.stop(sig)
		s = startServerEnv(t, data, serverEnv)
		c = newAdminCLI(t, s)
		waitStatus(t, c, "other", "running")
		waitCall(t, s.gateway+"/other/Call?name=env", `{"msg":"bar,qux env"}`)
		logs := c.ok("logs", "-n", "0", "other")
		if n := strings.Count(logs, "Starting [service] other"); n != i+2 {
			t.Errorf("after %v: %d starts in the logs, want %d (logs kept across restarts):\n%s", sig, n, i+2, logs)
		}
		if st, _ := statusOf(c, "helloworld"); st != "" {
			t.Errorf("after %v: the killed helloworld is back: %s", sig, st)
		}
	}
	c.ok("kill", "other")
	s.stop(syscall.SIGTERM)
}
