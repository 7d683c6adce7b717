package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/internal/testkit"
	regpb "micro.dev/micro/proto/registry"
)

// The sample services, built once for the package next to the micro binary.
var (
	buildOnce  sync.Once
	buildErr   error
	helloBin   string
	callerBin  string
	buildPaths = map[string]*string{"../testdata/helloworld": &helloBin, "../testdata/caller": &callerBin}
)

func buildSamples(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		dir := filepath.Dir(microBin)
		for pkg, bin := range buildPaths {
			*bin = filepath.Join(dir, filepath.Base(pkg))
			cmd := exec.Command("go", "build", "-o", *bin, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// serviceEnv is the environment a service gets to run next to s: the one
// place to add what a service needs to reach the server (credentials, once
// auth guards the registry).
func serviceEnv(s *server, extra ...string) []string {
	// Registering needs an admin of the namespace; a service started by
	// hand logs in with the default admin's credentials.
	env := append(os.Environ(), "MICRO_PROXY="+s.proxy, "MICRO_AUTH_ID=admin", "MICRO_AUTH_SECRET=micro")
	return append(env, extra...)
}

// proc is a sample service running as a child process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	out    *testkit.LogBuffer
	nodeID string
	exited chan struct{}
}

var nodeLine = regexp.MustCompile(`Registering node: (\S+)`)

// startService runs bin next to s and waits until its node is in the
// registry.
func startService(t *testing.T, s *server, bin string, env ...string) *proc {
	t.Helper()
	buildSamples(t)
	p := &proc{t: t, name: filepath.Base(bin), out: &testkit.LogBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = serviceEnv(s, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	testkit.Eventually(t, 20*time.Second, p.name+" to log its node id", func() bool {
		m := nodeLine.FindStringSubmatch(p.out.String())
		if m != nil {
			p.nodeID = m[1]
		}
		return m != nil || p.done()
	})
	if p.done() {
		t.Fatalf("%s exited: %s", p.name, p.out.String())
	}
	testkit.Eventually(t, 20*time.Second, p.name+" to be registered", func() bool { return hasNode(t, s, p.name, p.nodeID) })
	return p
}

func (p *proc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill signals the process and waits for it to exit.
func (p *proc) kill(sig syscall.Signal) {
	if p.done() {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("%s did not exit within 20s of %v", p.name, sig)
	}
}

// count reports how often s occurs in the process's output.
func (p *proc) count(s string) int { return strings.Count(p.out.String(), s) }

// proxyConns holds one gRPC connection per proxy address.
var proxyConns sync.Map

// dialProxy returns a gRPC connection to s's proxy, made once per server
// and closed with the test that made it.
func dialProxy(t *testing.T, s *server) *grpc.ClientConn {
	t.Helper()
	if c, ok := proxyConns.Load(s.proxy); ok {
		return c.(*grpc.ClientConn)
	}
	conn := testkit.Dial(t, s.proxy)
	if c, loaded := proxyConns.LoadOrStore(s.proxy, conn); loaded {
		conn.Close()
		return c.(*grpc.ClientConn)
	}
	t.Cleanup(func() { proxyConns.Delete(s.proxy); conn.Close() })
	return conn
}

// nodes lists the node ids the registry has for service.
func nodes(t *testing.T, s *server, service string) []string {
	t.Helper()
	conn := dialProxy(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rsp, err := regpb.NewRegistryClient(conn).GetService(ctx, &regpb.GetRequest{Service: service})
	if err != nil {
		return nil
	}
	var ids []string
	for _, svc := range rsp.Services {
		for _, n := range svc.Nodes {
			ids = append(ids, n.Id)
		}
	}
	return ids
}

func hasNode(t *testing.T, s *server, service, id string) bool {
	for _, n := range nodes(t, s, service) {
		if n == id {
			return true
		}
	}
	return false
}
