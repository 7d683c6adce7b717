// Package e2e drives the real micro binary the way a user does: a server on a
// temp file and free loopback ports, the CLI, HTTP to the gateway and gRPC to
// the proxy. The binary is built once for the whole package.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var microBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "micro-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	microBin = filepath.Join(dir, "micro")
	build := exec.Command("go", "build", "-o", microBin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building micro:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `micro server` child process.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	data    string
	gateway string // http://host:port
	proxy   string // host:port
	exited  chan struct{}
	err     error

	// dashboard is http://host:port, or "" unless extra flags enable it
	// (startServer passes --dashboard-address ""; a later flag wins).
	dashboard string
}

// startServer starts `micro server` on data (a new temp file when empty) with
// free ports, and waits until it has logged its addresses. extra flags come
// after the defaults, so they override them.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	if data == "" {
		data = filepath.Join(t.TempDir(), "micro.db")
	}
	args := append([]string{"server", "--data", data,
		"--gateway-address", "127.0.0.1:0", "--proxy-address", "127.0.0.1:0", "--dashboard-address", "",
		"--log-format", "json"}, extra...)
	cmd := exec.Command(microBin, args...)
	cmd.Env = append(os.Environ(), "MICRO_CONFIG_DIR="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, data: data, exited: make(chan struct{})}
	ready := make(chan map[string]any, 1)
	var logs bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logs.WriteString(line + "\n")
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "micro server started" {
				ready <- rec
			}
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(syscall.SIGKILL) })
	select {
	case rec := <-ready:
		s.gateway, _ = rec["gateway"].(string)
		s.proxy, _ = rec["proxy"].(string)
		s.dashboard, _ = rec["dashboard"].(string)
	case <-s.exited:
		t.Fatalf("server exited before it was ready: %v\n%s", s.err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("server not ready after 60s\n%s", logs.String())
	}
	return s
}

// stop signals the server and waits for it to exit.
func (s *server) stop(sig syscall.Signal) error {
	select {
	case <-s.exited:
		return s.err
	default:
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("server did not exit within 30s of %v", sig)
	}
	return s.err
}

// cli runs the micro CLI against s with its own client config directory.
type cli struct {
	t   *testing.T
	dir string
	env []string
}

func newCLI(t *testing.T, s *server) *cli {
	c := &cli{t: t, dir: t.TempDir()}
	c.env = append(os.Environ(), "MICRO_CONFIG_DIR="+c.dir)
	if s != nil {
		c.env = append(c.env, "MICRO_PROXY="+s.proxy)
	}
	return c
}

// run runs micro with args and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, args...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("micro %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// ok runs micro with args, fails the test unless it exits 0, and returns
// its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("micro %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// post sends body to the gateway and returns the status and response body.
func post(t *testing.T, url, contentType, body string) (int, string, http.Header) {
	t.Helper()
	rsp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b), rsp.Header
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	rsp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b)
}
