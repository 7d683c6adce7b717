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
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
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
	ready   chan map[string]any // the "started" log line

	// dashboard is http://host:port, or "" unless extra flags enable it
	// (startServer passes --dashboard-address ""; a later flag wins).
	dashboard string

	logMu sync.Mutex
	logs  bytes.Buffer
}

// log returns what the server has logged so far.
func (s *server) log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

// startServer starts `micro server` on data (a new temp file when empty) with
// free ports, and waits until it has logged its addresses. extra flags come
// after the defaults, so they override them.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, data, nil, extra...)
}

// startServerEnv is startServer with env added to the server's environment
// (which the services it runs inherit).
func startServerEnv(t *testing.T, data string, env []string, extra ...string) *server {
	t.Helper()
	return startServerWrapped(t, nil, data, env, extra...)
}

// startServerWrapped is startServerEnv with the server started through
// wrap (a command and its arguments, e.g. prlimit --nofile=256), when given.
func startServerWrapped(t *testing.T, wrap []string, data string, env []string, extra ...string) *server {
	t.Helper()
	s := launchServer(t, wrap, data, env, extra...)
	s.waitStarted()
	return s
}

// launchServer starts the server process without waiting for it to be
// ready (waitStarted does): for nodes of a cluster, which wait for each
// other.
func launchServer(t *testing.T, wrap []string, data string, env []string, extra ...string) *server {
	t.Helper()
	if data == "" {
		data = filepath.Join(t.TempDir(), "micro.db")
	}
	args := append([]string{"server", "--data", data,
		"--gateway-address", "127.0.0.1:0", "--proxy-address", "127.0.0.1:0", "--dashboard-address", "",
		"--log-format", "json"}, extra...)
	args = append([]string{microBin}, args...)
	if len(wrap) > 0 {
		args = append(wrap, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), "MICRO_CONFIG_DIR="+t.TempDir()), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, data: data, exited: make(chan struct{}), ready: make(chan map[string]any, 1)}
	ready := s.ready
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.logs.WriteString(line + "\n")
			s.logMu.Unlock()
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
	return s
}

// waitStarted waits until the server has logged its addresses.
func (s *server) waitStarted() {
	t := s.t
	t.Helper()
	select {
	case rec := <-s.ready:
		s.gateway, _ = rec["gateway"].(string)
		s.proxy, _ = rec["proxy"].(string)
		s.dashboard, _ = rec["dashboard"].(string)
	case <-s.exited:
		t.Fatalf("server exited before it was ready: %v\n%s", s.err, s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("server not ready after 60s\n%s", s.log())
	}
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
	return c.runIn("", args...)
}

// runIn is run with stdin piped from the given text.
func (c *cli) runIn(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
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

// login logs c in with the flags of micro login and returns c.
func (c *cli) login(user, password string) *cli {
	c.t.Helper()
	c.ok("login", "--username", user, "--password", password)
	return c
}

// newAdminCLI is newCLI logged in as the default admin (admin/micro): the
// store and the auth management need an admin of the namespace.
func newAdminCLI(t *testing.T, s *server) *cli {
	t.Helper()
	return newCLI(t, s).login("admin", "micro")
}

// post sends body to the gateway and returns the status and response body.
func post(t *testing.T, url, contentType, body string) (int, string, http.Header) {
	t.Helper()
	return request(t, http.MethodPost, url, body, "Content-Type", contentType)
}

// request sends body to url with headers given as name, value pairs.
func request(t *testing.T, method, url, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b), rsp.Header
}

// postAs posts JSON to the gateway with "Authorization: Bearer token" (none
// when token is empty) and extra headers.
func postAs(t *testing.T, token, url, body string, header ...string) (int, string) {
	t.Helper()
	header = append(header, "Content-Type", "application/json")
	if token != "" {
		header = append(header, "Authorization", "Bearer "+token)
	}
	code, b, _ := request(t, http.MethodPost, url, body, header...)
	return code, b
}

// token logs in through the gateway (Auth.Token) and returns the access
// token.
func (s *server) token(t *testing.T, ns, id, secret string) string {
	t.Helper()
	code, body := postAs(t, "", s.gateway+"/auth/Auth/Token",
		fmt.Sprintf(`{"id":%q,"secret":%q,"options":{"namespace":%q}}`, id, secret, ns))
	if code != 200 {
		t.Fatalf("login %s/%s: %d %s", ns, id, code, body)
	}
	var rsp struct {
		Token struct {
			AccessToken string `json:"access_token"`
		} `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &rsp); err != nil || rsp.Token.AccessToken == "" {
		t.Fatalf("login %s/%s: %s", ns, id, body)
	}
	return rsp.Token.AccessToken
}

// adminToken is an access token of the default admin.
func (s *server) adminToken(t *testing.T) string { return s.token(t, "micro", "admin", "micro") }

// bearer returns ctx sending "authorization: Bearer token" on gRPC calls.
func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
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
