package store

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	_ "micro.dev/micro/framework/codec" // the json codec, for calls with content subtype json
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// env is a store block on a fresh database file, served over loopback gRPC.
type env struct {
	db     *schema.DB
	store  *Store
	clock  *testkit.Clock
	conn   *grpc.ClientConn
	client pb.StoreClient
	blobs  pb.BlobStoreClient
}

func openDB(tb testing.TB) *schema.DB {
	tb.Helper()
	db, err := schema.Open(context.Background(), filepath.Join(tb.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

func newEnv(tb testing.TB, opts ...Option) *env {
	tb.Helper()
	return newEnvOn(tb, openDB(tb), opts...)
}

// newEnvOn is newEnv on a database the test opened.
func newEnvOn(tb testing.TB, db *schema.DB, opts ...Option) *env {
	tb.Helper()
	e := &env{db: db, clock: testkit.NewClock()}
	e.store = New(e.db, auth.Namespaces, append([]Option{WithClock(e.clock.Now)}, opts...)...)
	tb.Cleanup(func() { e.store.Close() })
	if e.store.js != nil {
		// The bucket and the watchers' feed start with the block.
		if err := e.store.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}

	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(callerUnary), grpc.ChainStreamInterceptor(callerStream))
	e.store.Register(gs)
	e.conn = testkit.Dial(tb, testkit.Serve(tb, gs))
	e.client = pb.NewStoreClient(e.conn)
	e.blobs = pb.NewBlobStoreClient(e.conn)
	return e
}

// sqlite reports whether the env's store is on the SQLite backend.
func (e *env) sqlite() bool { return e.store.js == nil }

// eachBackend runs test over the SQLite backend and over the JetStream
// one (one embedded server), with be the options selecting it.
func eachBackend(t *testing.T, test func(t *testing.T, be ...Option)) {
	blocktest.EachBackend(t, func(js jetstream.JetStream) []Option { return []Option{WithJetStream(js, 1)} }, test)
}

func (e *env) write(tb testing.TB, ctx context.Context, key, value string, expiry int64, o *pb.WriteOptions) {
	tb.Helper()
	_, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: key, Value: []byte(value), Expiry: expiry}, Options: o})
	if err != nil {
		tb.Fatalf("write %q: %v", key, err)
	}
}

// revision reads key's revision (default database and table).
func (e *env) revision(tb testing.TB, key string) uint64 {
	tb.Helper()
	rsp, err := e.client.Read(tb.Context(), &pb.ReadRequest{Key: key})
	if err != nil {
		tb.Fatalf("read %q: %v", key, err)
	}
	return rsp.Records[0].Revision
}

// readKeys returns the keys of the records a read returns.
func (e *env) readKeys(t *testing.T, key string, o *pb.ReadOptions) []string {
	t.Helper()
	rsp, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: key, Options: o})
	if err != nil {
		t.Fatalf("read %q %v: %v", key, o, err)
	}
	keys := []string{}
	for _, r := range rsp.Records {
		keys = append(keys, r.Key)
	}
	return keys
}

// list calls List and checks the stream carries exactly one message.
func (e *env) list(t *testing.T, ctx context.Context, o *pb.ListOptions) []string {
	t.Helper()
	stream, err := e.client.List(ctx, &pb.ListRequest{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*pb.ListResponse
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("list %v: %v", o, err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != 1 {
		t.Fatalf("list %v: %d messages, want 1", o, len(msgs))
	}
	return append([]string{}, msgs[0].Keys...)
}

// rows counts the raw rows of the records table, expired ones included.
func (e *env) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.Read().QueryRow(`SELECT count(*) FROM store_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil {
		got = []string{}
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// callerKey is test metadata naming the caller, as the proxy's auth would
// put it in the context: "issuer/type/scope", or "anonymous". Without it the
// caller is the admin of namespace micro.
const callerKey = "x-test-caller"

// asCaller returns ctx calling as caller (see callerKey).
func asCaller(ctx context.Context, caller string) context.Context {
	return metadata.Set(ctx, callerKey, caller)
}

func withCaller(ctx context.Context) context.Context {
	c, ok := metadata.Get(ctx, callerKey)
	if !ok {
		c = "micro/user/admin"
	}
	if c == "anonymous" {
		return ctx
	}
	var acc auth.Account
	parts := strings.SplitN(c, "/", 3)
	acc.ID, acc.Issuer, acc.Type = "tester", parts[0], parts[1]
	if parts[2] != "" {
		acc.Scopes = []string{parts[2]}
	}
	return auth.ContextWithAccount(ctx, &acc)
}

func callerUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(withCaller(ctx), req)
}

func callerStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &callerServerStream{ServerStream: ss, ctx: withCaller(ss.Context())})
}

type callerServerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerServerStream) Context() context.Context { return s.ctx }
