package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/store"
)

// TestStoreTour is the user story, step by step.
func TestStoreTour(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)

	code, body := get(t, s.gateway+"/")
	if code != 200 || !strings.Contains(body, `"version"`) {
		t.Fatalf("GET /: %d %s", code, body)
	}

	c.ok("store", "write", "greeting", "hello")
	if out := c.ok("store", "read", "greeting"); out != "hello\n" {
		t.Fatalf("read: %q", out)
	}
	c.ok("store", "write", "grass", "green", "and", "wet")
	if out := c.ok("store", "read", "grass"); out != "green and wet\n" {
		t.Fatalf("multi-word value: %q", out)
	}

	// Long enough that the read right after the write comes before it
	// even on a loaded machine (1s did not); then polled, not slept.
	c.ok("store", "write", "session", "abc", "--expiry", "4s")
	if out := c.ok("store", "read", "session"); out != "abc\n" {
		t.Fatalf("read before expiry: %q", out)
	}
	var out, errOut string
	var exit int
	testkit.Eventually(t, 30*time.Second, "the record to expire", func() bool {
		out, errOut, exit = c.run("store", "read", "session")
		return exit != 0
	})
	if !strings.Contains(strings.ToLower(errOut), "not found") {
		t.Fatalf("expired read: exit %d stdout %q stderr %q", exit, out, errOut)
	}

	if out := c.ok("store", "list", "--prefix", "gr"); out != "grass\ngreeting\n" {
		t.Fatalf("list --prefix gr: %q", out)
	}
	out = c.ok("store", "read", "-v", "greeting")
	if !strings.Contains(out, "KEY") || !strings.Contains(out, "VALUE") || !strings.Contains(out, "EXPIRY") ||
		!strings.Contains(out, "greeting") || !strings.Contains(out, "None") {
		t.Fatalf("read -v: %q", out)
	}

	code, body = postAs(t, s.adminToken(t), s.gateway+"/store/Store/Read", `{"key":"greeting"}`)
	if code != 200 {
		t.Fatalf("gateway read: %d %s", code, body)
	}
	var rsp struct {
		Records []struct {
			Key    string `json:"key"`
			Value  []byte `json:"value"`
			Expiry string `json:"expiry"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &rsp); err != nil {
		t.Fatalf("gateway read body %s: %v", body, err)
	}
	if len(rsp.Records) != 1 || rsp.Records[0].Key != "greeting" || string(rsp.Records[0].Value) != "hello" || rsp.Records[0].Expiry != "0" {
		t.Fatalf("gateway read: %s", body)
	}

	// Databases and tables follow --database and --table.
	c.ok("store", "write", "k", "v", "--database", "shop", "--table", "carts")
	if out := c.ok("store", "read", "k", "--database", "shop", "--table", "carts"); out != "v\n" {
		t.Fatalf("read from shop/carts: %q", out)
	}
	if out := c.ok("store", "databases"); !strings.Contains(out, "shop") || !strings.Contains(out, "micro") {
		t.Fatalf("databases: %q", out)
	}
	if out := c.ok("store", "tables", "--database", "shop"); out != "carts\n" {
		t.Fatalf("tables: %q", out)
	}
	c.ok("store", "delete", "greeting")
	if _, _, exit := c.run("store", "read", "greeting"); exit == 0 {
		t.Fatal("deleted key still readable")
	}
}

// TestProxyServesReflectionAndHealth is `grpcurl -plaintext :8081 list`.
func TestProxyServesReflectionAndHealth(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	conn := testkit.Dial(t, s.proxy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	stream, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rsp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range rsp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	sort.Strings(names)
	for _, want := range []string{"grpc.health.v1.Health", "store.Store"} {
		if i := sort.SearchStrings(names, want); i == len(names) || names[i] != want {
			t.Fatalf("reflection lists %v, missing %s", names, want)
		}
	}

	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "store.Store"})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}

	// The store is reachable over plain gRPC, as grpcurl would call it,
	// with an admin's token (health and reflection above needed none).
	ctx = bearer(ctx, s.adminToken(t))
	st := pb.NewStoreClient(conn)
	if _, err := st.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: "g", Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Read(ctx, &pb.ReadRequest{Key: "g"})
	if err != nil || len(r.Records) != 1 || string(r.Records[0].Value) != "x" {
		t.Fatalf("grpc read: %v %v", r, err)
	}
}

// TestShutdownLeavesOneFile: after SIGTERM the .db alone holds everything.
func TestShutdownLeavesOneFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "micro.db")
	s := startServer(t, data)
	c := newAdminCLI(t, s)
	for i := 0; i < 20; i++ {
		c.ok("store", "write", "key"+strconv.Itoa(i), "value"+strconv.Itoa(i))
	}
	if err := s.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("server exit: %v", err)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(data + side); err == nil {
			t.Fatalf("%s left beside the database after shutdown", side)
		}
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cp, b, 0o600)
	s2 := startServer(t, cp)
	c2 := newAdminCLI(t, s2)
	keys := strings.Fields(c2.ok("store", "list"))
	if len(keys) != 20 {
		t.Fatalf("copy holds %d keys: %v", len(keys), keys)
	}
	if out := c2.ok("store", "read", "key7"); out != "value7\n" {
		t.Fatalf("copy read: %q", out)
	}
}

// TestAcknowledgedWritesSurviveKill9: every write the server acknowledged is
// there after kill -9 and a restart.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "micro.db")
	s := startServer(t, data)
	conn := testkit.Dial(t, s.proxy)
	st := pb.NewStoreClient(conn)

	// Writers run until the kill; every acknowledged key is recorded. The
	// admin's token is kept in the database file, so it also works after
	// the restart.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx = bearer(ctx, s.adminToken(t))
	acked := make(chan string, 100000)
	done := make(chan struct{})
	const writers = 8
	for w := 0; w < writers; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				key := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if _, err := st.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: key, Value: []byte(key)}}); err != nil {
					return
				}
				acked <- key
			}
		}(w)
	}
	// Let some writes land, then kill without warning.
	for len(acked) < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	s.stop(syscall.SIGKILL)
	for w := 0; w < writers; w++ {
		<-done
	}
	close(acked)

	s2 := startServer(t, data)
	conn2 := testkit.Dial(t, s2.proxy)
	st2 := pb.NewStoreClient(conn2)
	n := 0
	for key := range acked {
		r, err := st2.Read(ctx, &pb.ReadRequest{Key: key})
		if err != nil || len(r.Records) != 1 || string(r.Records[0].Value) != key {
			t.Fatalf("acknowledged write %s lost after kill -9: %v", key, err)
		}
		n++
	}
	t.Logf("%d acknowledged writes all present after kill -9", n)
}

// TestOnlineBackup: `micro backup` copies the database while writes go on,
// and a server started on the copy has the data.
func TestOnlineBackup(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := newAdminCLI(t, s)
	for i := 0; i < 10; i++ {
		c.ok("store", "write", "key"+strconv.Itoa(i), "value"+strconv.Itoa(i))
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	if out := c.ok("backup", dest); !strings.Contains(out, "Backed up") {
		t.Fatalf("backup: %q", out)
	}
	if _, _, code := c.run("backup", dest); code == 0 {
		t.Fatal("backup over an existing file succeeded")
	}
	// Only an administrator may copy the database.
	if _, errOut, code := newCLI(t, s).run("backup", filepath.Join(t.TempDir(), "anon.db")); code == 0 {
		t.Fatalf("anonymous backup succeeded: %s", errOut)
	}
	c.ok("store", "write", "after", "backup") // the server is still serving

	s2 := startServer(t, dest)
	c2 := newAdminCLI(t, s2)
	if keys := strings.Fields(c2.ok("store", "list")); len(keys) != 10 {
		t.Fatalf("backup holds %v", keys)
	}
	if out := c2.ok("store", "read", "key3"); out != "value3\n" {
		t.Fatalf("backup read: %q", out)
	}
}
