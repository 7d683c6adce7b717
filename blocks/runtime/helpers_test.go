//go:build unix

package runtime

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	_ "micro.dev/micro/framework/codec"
	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/natstest"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/runtime"
	"micro.dev/micro/schema"
)

// testEnv is a runtime on a fresh database file, served over loopback gRPC.
type testEnv struct {
	t      *testing.T
	path   string
	cfg    Config
	db     *schema.DB
	rt     *Runtime
	conn   *grpc.ClientConn
	client pb.RuntimeClient
	source pb.SourceClient

	closers []func()
}

// testConfig is quick: short backoff, settle and grace.
func testConfig(t *testing.T) Config {
	return Config{
		CacheDir:     t.TempDir(),
		ProxyAddress: ":8081",
		Backoff:      Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond, Reset: time.Minute},
		Settle:       200 * time.Millisecond,
		StopGrace:    3 * time.Second,
		WatchDelay:   100 * time.Millisecond,
	}
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	e := &testEnv{t: t, path: filepath.Join(t.TempDir(), "micro.db"), cfg: cfg}
	e.open()
	t.Cleanup(e.close)
	return e
}

// open opens the database and starts the runtime and its gRPC server.
func (e *testEnv) open() {
	t := e.t
	t.Helper()
	db, err := schema.Open(context.Background(), e.path, schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	e.rt = New(db, auth.Namespaces, e.cfg)
	gs := grpc.NewServer(blocktest.As(blocktest.Admin)...)
	e.rt.Register(gs)
	conn := testkit.Dial(t, testkit.Serve(t, gs))
	if err := e.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	e.client = pb.NewRuntimeClient(conn)
	e.source = pb.NewSourceClient(conn)
	// A restart (close, then open) stops this server before the test ends.
	e.closers = append(e.closers, func() { conn.Close(); gs.Stop() })
}

// close stops the runtime (its processes) and closes the database, as a
// server's shutdown does.
func (e *testEnv) close() {
	if e.rt == nil {
		return
	}
	for _, c := range e.closers {
		c()
	}
	e.closers = nil
	if err := e.rt.Close(); err != nil {
		e.t.Error(err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Error(err)
	}
	e.rt = nil
}

// testdata copies testdata/runtime/<name> into a new temp directory.
func testdata(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "..", "testdata", "runtime", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func (e *testEnv) create(name, source string, env []string, watch bool) error {
	_, err := e.client.Create(ctx(e.t), &pb.CreateRequest{
		Resource: &pb.Resource{Service: &pb.Service{Name: name, Source: source}},
		Options:  &pb.CreateOptions{Env: env, Watch: watch},
	})
	return err
}

func (e *testEnv) mustCreate(name, source string, env []string, watch bool) {
	e.t.Helper()
	if err := e.create(name, source, env, watch); err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
}

// service reads one service's status through Read.
func (e *testEnv) service(name string) *pb.Service {
	e.t.Helper()
	rsp, err := e.client.Read(ctx(e.t), &pb.ReadRequest{Options: &pb.ReadOptions{Service: name}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rsp.Services) != 1 {
		return nil
	}
	return rsp.Services[0]
}

// logs reads every log line of a service.
func (e *testEnv) logs(name string) []string {
	e.t.Helper()
	stream, err := e.client.Logs(ctx(e.t), &pb.LogsRequest{Service: name})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for {
		rec, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, rec.Message)
	}
}

// waitStatus waits until name has status s and returns it.
func (e *testEnv) waitStatus(name string, s Status, within time.Duration) *pb.Service {
	e.t.Helper()
	var last *pb.Service
	testkit.Eventually(e.t, within, "service "+name+" "+s.String(), func() bool {
		last = e.service(name)
		return last != nil && Status(last.Status) == s
	})
	return last
}

// waitLog waits until a log line of name contains substr and returns it.
func (e *testEnv) waitLog(name, substr string, within time.Duration) string {
	e.t.Helper()
	var found string
	testkit.Eventually(e.t, within, "a log line of "+name+" containing "+substr, func() bool {
		for _, l := range e.logs(name) {
			if strings.Contains(l, substr) {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// processes returns the process groups the runtime has recorded for name.
func (e *testEnv) processes(name string) []Process {
	e.t.Helper()
	procs, err := e.rt.backend.Processes(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []Process
	for _, p := range procs {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// groupGone reports whether no process of group pgid is left (zombies
// waiting for a reaper aside), checked with kill(-pgid, 0) first.
func groupGone(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	return !groupAlive(pgid)
}

func errCode(err error) int32 {
	if err == nil {
		return 0
	}
	return merrors.FromError(err, "test").Code
}

func pidAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// forEachBackend runs test over each backend: SQLite (backend leaves the
// config as it is) and JetStream on a fresh single server (backend sets
// it in the config).
func forEachBackend(t *testing.T, test func(t *testing.T, backend func(*Config))) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, func(*Config) {})
	})
	t.Run("jetstream", func(t *testing.T) {
		t.Parallel()
		js := natstest.Connect(t, natstest.Server(t))
		test(t, func(c *Config) { c.JetStream, c.Replicas = js, 1 })
	})
}
