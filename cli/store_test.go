package cli

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"

	merrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/store"
)

// fakeStore is an in-memory store.Store that records what it was called with.
type fakeStore struct {
	pb.UnimplementedStoreServer

	mu         sync.Mutex
	records    map[string]*pb.Record // by database/table/key
	namespaces []string              // micro-namespace of each call
	last       any                   // the last request
}

func (s *fakeStore) seen(ctx context.Context, req any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.namespaces = append(s.namespaces, metadata.NamespaceFrom(ctx))
	s.last = req
}

func (s *fakeStore) lastRequest() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Keys that make the fake fail in a given way.
var fakeErrors = map[string]error{
	"secret": merrors.Unauthorized("store", "no token"),
	"slow":   merrors.Timeout("store", "took too long"),
	"boom":   merrors.InternalServerError("store", "disk on fire"),
	"bad":    merrors.BadRequest("store", "key is not valid"),
	"down":   merrors.ServiceUnavailable("store", "store is draining"),
}

func (s *fakeStore) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	s.seen(ctx, req)
	if err := fakeErrors[req.Key]; err != nil {
		return nil, err
	}
	o := req.GetOptions()
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []*pb.Record
	for _, k := range s.sortedKeys(o.GetDatabase(), o.GetTable(), o.GetOrder()) {
		match := k == req.Key
		switch {
		case o.GetPrefix():
			match = strings.HasPrefix(k, req.Key)
		case o.GetSuffix():
			match = strings.HasSuffix(k, req.Key)
		}
		if match {
			recs = append(recs, s.records[o.GetDatabase()+"/"+o.GetTable()+"/"+k])
		}
	}
	recs = page(recs, o.GetOffset(), o.GetLimit())
	if len(recs) == 0 {
		return nil, merrors.NotFound("store", "not found")
	}
	return &pb.ReadResponse{Records: recs}, nil
}

func page[T any](s []T, offset, limit uint64) []T {
	if offset >= uint64(len(s)) {
		return nil
	}
	s = s[offset:]
	if limit > 0 && limit < uint64(len(s)) {
		s = s[:limit]
	}
	return s
}

// sortedKeys returns the keys of db/table in order; s.mu is held.
func (s *fakeStore) sortedKeys(db, table, order string) []string {
	var keys []string
	prefix := db + "/" + table + "/"
	for k := range s.records {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, strings.TrimPrefix(k, prefix))
		}
	}
	sort.Strings(keys)
	if order == "desc" {
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	}
	return keys
}

func (s *fakeStore) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	s.seen(ctx, req)
	if err := fakeErrors[req.GetRecord().GetKey()]; err != nil {
		return nil, err
	}
	o := req.GetOptions()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[o.GetDatabase()+"/"+o.GetTable()+"/"+req.Record.Key] = req.Record
	return &pb.WriteResponse{}, nil
}

func (s *fakeStore) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	s.seen(ctx, req)
	o := req.GetOptions()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := o.GetDatabase() + "/" + o.GetTable() + "/" + req.Key
	if s.records[k] == nil {
		return nil, merrors.NotFound("store", "not found")
	}
	delete(s.records, k)
	return &pb.DeleteResponse{}, nil
}

func (s *fakeStore) List(req *pb.ListRequest, stream grpc.ServerStreamingServer[pb.ListResponse]) error {
	s.seen(stream.Context(), req)
	o := req.GetOptions()
	s.mu.Lock()
	var keys []string
	for _, k := range s.sortedKeys(o.GetDatabase(), o.GetTable(), o.GetOrder()) {
		if strings.HasPrefix(k, o.GetPrefix()) && strings.HasSuffix(k, o.GetSuffix()) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	keys = page(keys, o.GetOffset(), o.GetLimit())
	// Two messages, to check that the CLI reads the stream to its end.
	half := len(keys) / 2
	if err := stream.Send(&pb.ListResponse{Keys: keys[:half]}); err != nil {
		return err
	}
	return stream.Send(&pb.ListResponse{Keys: keys[half:]})
}

func (s *fakeStore) Databases(ctx context.Context, req *pb.DatabasesRequest) (*pb.DatabasesResponse, error) {
	s.seen(ctx, req)
	return &pb.DatabasesResponse{Databases: []string{"acme", "micro"}}, nil
}

func (s *fakeStore) Tables(ctx context.Context, req *pb.TablesRequest) (*pb.TablesResponse, error) {
	s.seen(ctx, req)
	return &pb.TablesResponse{Tables: []string{req.Database + "-t1", req.Database + "-t2"}}, nil
}

// serve starts a gRPC server on a free loopback port with register applied,
// and returns its address.
func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	srv := grpc.NewServer()
	register(srv)
	return testkit.Serve(t, srv)
}

// startStore isolates the CLI and points it, through MICRO_PROXY, at a
// fresh fake store.
func startStore(t *testing.T) *fakeStore {
	t.Helper()
	isolate(t)
	fs := &fakeStore{records: map[string]*pb.Record{}}
	t.Setenv("MICRO_PROXY", serve(t, func(s *grpc.Server) { pb.RegisterStoreServer(s, fs) }))
	return fs
}

func TestStoreWriteRead(t *testing.T) {
	fs := startStore(t)
	mustRun(t, "store", "write", "greeting", "hello", "world")
	if out := mustRun(t, "store", "read", "greeting"); out != "hello world\n" {
		t.Errorf("read = %q", out)
	}
	// Defaults: database = namespace "micro", table "micro".
	if r := fs.lastRequest().(*pb.ReadRequest); r.Options.Database != "micro" || r.Options.Table != "micro" {
		t.Errorf("read options %v", r.Options)
	}

	mustRun(t, "store", "write", "--expiry", "1500ms", "temp", "x")
	if w := fs.lastRequest().(*pb.WriteRequest); w.Record.Expiry != 2 {
		t.Errorf("expiry sent = %d, want 2", w.Record.Expiry)
	}
	mustRun(t, "store", "write", "temp2", "y", "-e", "90s") // flags after the value
	if w := fs.lastRequest().(*pb.WriteRequest); w.Record.Expiry != 90 || string(w.Record.Value) != "y" {
		t.Errorf("write = %v", w.Record)
	}
	wantFail(t, 1, "--expiry must not be negative. Please refer to 'micro store write --help'", "store", "write", "-e", "-1s", "k", "v")
	wantFail(t, 1, "Expected a key and a value. Please refer to 'micro store write --help'", "store", "write", "k")

	out := mustRun(t, "store", "read", "-v", "temp")
	if out != "KEY   VALUE  EXPIRY  REVISION\ntemp  x      2s      0\n" {
		t.Errorf("read -v =\n%q", out)
	}
	out = mustRun(t, "store", "read", "greeting", "--verbose")
	if !strings.Contains(out, "greeting  hello world  None") {
		t.Errorf("read --verbose =\n%s", out)
	}

	out = mustRun(t, "store", "read", "--output", "json", "-p", "temp")
	var recs []recordJSON
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("read --output json: %v\n%s", err, out)
	}
	if len(recs) != 2 || !reflect.DeepEqual(recs[0], recordJSON{Key: "temp", Value: "x", Expiry: 2}) || recs[1].Key != "temp2" {
		t.Errorf("json records = %+v", recs)
	}

	mustRun(t, "store", "write", "n", "--", "-1")
	mustRun(t, "store", "write", "m", "-2")
	if out := mustRun(t, "store", "read", "-p", "", "--order", "desc", "-l", "2", "-o", "1"); out != "x\n-1\n" {
		t.Errorf("read with paging = %q", out)
	}
	r := fs.lastRequest().(*pb.ReadRequest)
	if !r.Options.Prefix || r.Options.Order != "desc" || r.Options.Limit != 2 || r.Options.Offset != 1 {
		t.Errorf("read options %v", r.Options)
	}
	if out := mustRun(t, "store", "read", "-s", "2"); out != "y\n" {
		t.Errorf("read -s 2 = %q", out)
	}

	mustRun(t, "store", "delete", "greeting")
	wantFail(t, 1, "Not found", "store", "read", "greeting")
	wantFail(t, 1, "Not found", "store", "delete", "greeting")
}

func TestStoreDatabaseAndNamespace(t *testing.T) {
	fs := startStore(t)
	mustRun(t, "store", "write", "--database", "other", "-t", "users", "k", "v")
	w := fs.lastRequest().(*pb.WriteRequest)
	if w.Options.Database != "other" || w.Options.Table != "users" {
		t.Errorf("write options %v", w.Options)
	}
	if out := mustRun(t, "store", "read", "-d", "other", "--table", "users", "k"); out != "v\n" {
		t.Errorf("read from other/users = %q", out)
	}
	wantFail(t, 1, "Not found", "store", "read", "k")

	// The namespace travels as metadata and is the default database.
	mustRun(t, "--namespace", "acme", "store", "write", "k", "v2")
	if w := fs.lastRequest().(*pb.WriteRequest); w.Options.Database != "acme" {
		t.Errorf("database under --namespace acme = %q", w.Options.Database)
	}
	t.Setenv("MICRO_NAMESPACE", "beta")
	mustRun(t, "store", "tables")
	if r := fs.lastRequest().(*pb.TablesRequest); r.Database != "beta" {
		t.Errorf("tables database = %q", r.Database)
	}
	t.Setenv("MICRO_NAMESPACE", "")

	// The env's current namespace, from config.json.
	files, _ := stateFilesFor("", os.Getenv)
	if err := updateConfig(files.config, func(c *Config) error { c.SetNamespace("local", "gamma"); return nil }); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "store", "databases")

	fs.mu.Lock()
	got := fs.namespaces
	fs.mu.Unlock()
	want := []string{"micro", "micro", "micro", "acme", "beta", "gamma"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("namespaces = %v, want %v", got, want)
	}
}

func TestStoreList(t *testing.T) {
	fs := startStore(t)
	if out := mustRun(t, "store", "list"); out != "" {
		t.Errorf("list of empty table = %q", out)
	}
	if out := mustRun(t, "store", "list", "--output", "json"); out != "[]\n" {
		t.Errorf("json list of empty table = %q", out)
	}
	for _, k := range []string{"a1", "a2", "b1", "b2"} {
		mustRun(t, "store", "write", k, "v")
	}
	if out := mustRun(t, "store", "list"); out != "a1\na2\nb1\nb2\n" {
		t.Errorf("list = %q", out)
	}
	if out := mustRun(t, "store", "list", "--prefix", "a", "--order", "desc"); out != "a2\na1\n" {
		t.Errorf("list --prefix a --order desc = %q", out)
	}
	if out := mustRun(t, "store", "list", "-s", "1", "-l", "1", "-o", "1"); out != "b1\n" {
		t.Errorf("list -s 1 -l 1 -o 1 = %q", out)
	}
	r := fs.lastRequest().(*pb.ListRequest)
	if r.Options.Suffix != "1" || r.Options.Limit != 1 || r.Options.Offset != 1 || r.Options.Database != "micro" || r.Options.Table != "micro" {
		t.Errorf("list options %v", r.Options)
	}
	if out := mustRun(t, "store", "list", "--output", "json", "-p", "b"); out != "[\n  \"b1\",\n  \"b2\"\n]\n" {
		t.Errorf("list --output json = %q", out)
	}
	wantFail(t, 1, `Unexpected argument "a" (filter keys with --prefix or --suffix). Please refer to 'micro store list --help'`, "store", "list", "a")

	if out := mustRun(t, "store", "databases"); out != "acme\nmicro\n" {
		t.Errorf("databases = %q", out)
	}
	if out := mustRun(t, "store", "tables", "-d", "acme"); out != "acme-t1\nacme-t2\n" {
		t.Errorf("tables -d acme = %q", out)
	}
}

func TestStoreErrors(t *testing.T) {
	startStore(t)
	wantFail(t, 2, "Not authorized to perform this request", "store", "read", "secret")
	wantFail(t, 1, "Request timed out", "store", "read", "slow")
	wantFail(t, 127, "Disk on fire", "store", "read", "boom")
	wantFail(t, 1, "Key is not valid", "store", "write", "bad", "v")
	// A 503 from the server travels as gRPC Unavailable too, but it is the
	// server's answer, not a failure to reach it.
	wantFail(t, 127, "Store is draining", "store", "read", "down")
}

func TestStoreUnreachable(t *testing.T) {
	isolate(t)
	lis := testkit.Listen(t)
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now

	t.Setenv("MICRO_PROXY", addr)
	wantFail(t, 4, "Failed to connect to micro server at "+addr, "store", "list")
	// The second line says why.
	if _, errOut, _ := run(t, "store", "list"); !strings.Contains(errOut, "\n  (dial tcp "+addr+": connect: connection refused)\n") {
		t.Errorf("stderr lacks the cause: %q", errOut)
	}
	t.Setenv("MICRO_PROXY", "")
	wantFail(t, 4, "Failed to connect to micro server at "+addr, "--proxy_address", addr, "store", "read", "k")

	// The env's address is used when nothing overrides it.
	mustRun(t, "env", "add", "gone", addr)
	wantFail(t, 4, "Failed to connect to micro server at "+addr, "-e", "gone", "store", "databases")
	mustRun(t, "env", "add", "empty")
	wantFail(t, 1, "Environment 'empty' has no proxy address; set one with 'micro env add empty host:port'", "-e", "empty", "store", "databases")
}

func TestStoreServiceMissing(t *testing.T) {
	isolate(t)
	// A server without the store service, as grpc-go answers for it.
	t.Setenv("MICRO_PROXY", serve(t, func(*grpc.Server) {}))
	wantFail(t, 5, `Service "store.Store" not found`, "store", "databases")
}
