package config

import (
	"bytes"
	"context"
	"database/sql"
	stderrors "errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/blocktest"
	"micro.dev/micro/framework/auth"
	_ "micro.dev/micro/framework/codec" // the json codec, for calls with content subtype json
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/config"
	"micro.dev/micro/schema"
)

// env is a config block on a fresh database file, served over loopback gRPC.
type env struct {
	with   []Option // the backend's options, to open it again
	path   string
	db     *schema.DB
	config *Config
	conn   *grpc.ClientConn
	client pb.ConfigClient
}

func openDB(tb testing.TB, path string) *schema.DB {
	tb.Helper()
	db, err := schema.Open(context.Background(), path, schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func newEnv(tb testing.TB, opts ...Option) *env {
	tb.Helper()
	return newEnvAt(tb, filepath.Join(tb.TempDir(), "micro.db"), opts...)
}

// newEnvAt serves a config block on the database file at path, to the
// default admin under Micro's namespace rule; closing happens at cleanup,
// or earlier with stop.
func newEnvAt(tb testing.TB, path string, opts ...Option) *env {
	tb.Helper()
	return newEnvWith(tb, path, auth.Namespaces, opts...)
}

// newEnvWith is newEnvAt with authz deciding every call.
func newEnvWith(tb testing.TB, path string, authz auth.Authorizer, opts ...Option) *env {
	tb.Helper()
	e := &env{with: opts, path: path, db: openDB(tb, path)}
	e.config = New(e.db, authz, opts...)

	gs := grpc.NewServer(blocktest.As(blocktest.Admin)...)
	e.config.Register(gs)
	e.conn = testkit.Dial(tb, testkit.Serve(tb, gs))
	e.client = pb.NewConfigClient(e.conn)
	tb.Cleanup(func() {
		e.config.Close()
		gs.Stop()
		e.db.Close()
	})
	return e
}

// stop closes the block and its database (idempotent with the cleanup).
func (e *env) stop(tb testing.TB) {
	tb.Helper()
	e.config.Close()
	if err := e.db.Close(); err != nil {
		tb.Fatal(err)
	}
}

func (e *env) set(tb testing.TB, path, data string, secret bool) {
	tb.Helper()
	_, err := e.client.Set(tb.Context(), &pb.SetRequest{Path: path, Value: &pb.Value{Data: data}, Options: &pb.Options{Secret: secret}})
	if err != nil {
		tb.Fatalf("set %s %s: %v", path, data, err)
	}
}

func (e *env) get(tb testing.TB, path string, secret bool) string {
	tb.Helper()
	rsp, err := e.client.Get(tb.Context(), &pb.GetRequest{Path: path, Options: &pb.Options{Secret: secret}})
	if err != nil {
		tb.Fatalf("get %s: %v", path, err)
	}
	return rsp.GetValue().GetData()
}

// wantCode checks err is a micro error with code.
func wantCode(tb testing.TB, what string, err error, code int32) *errors.Error {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s: no error, want %d", what, code)
	}
	me := errors.FromError(err, "")
	if me.Code != code {
		tb.Fatalf("%s: %v, want code %d", what, err, code)
	}
	return me
}

// forEachBackend runs test over each backend: SQLite (no options) and
// JetStream on a fresh single server.
func forEachBackend(t *testing.T, test func(t *testing.T, with ...Option)) {
	blocktest.EachBackend(t, func(js jetstream.JetStream) []Option { return []Option{WithJetStream(js, 1)} },
		func(t *testing.T, with ...Option) {
			t.Parallel()
			test(t, with...)
		})
}

// storedSecretKey is the secret key the backend keeps, nil when none.
func (e *env) storedSecretKey(tb testing.TB) []byte {
	tb.Helper()
	if e.config.js != nil {
		kv, err := e.config.js.KeyValue(tb.Context(), Bucket)
		if err != nil {
			tb.Fatal(err)
		}
		v, err := kv.Get(tb.Context(), secretKeyKey)
		if stderrors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			tb.Fatal(err)
		}
		return v.Value()
	}
	var key []byte
	err := e.db.Read().QueryRow(`SELECT key FROM config_keys`).Scan(&key)
	if stderrors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// storedNamespace is what the JetStream backend stores for ns (nil on
// SQLite, whose file the tests read themselves).
func (e *env) storedNamespace(tb testing.TB, ns string) []byte {
	tb.Helper()
	if e.config.js == nil {
		return nil
	}
	kv, err := e.config.js.KeyValue(tb.Context(), Bucket)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := kv.Get(tb.Context(), nsKey(ns))
	if err != nil {
		tb.Fatal(err)
	}
	return v.Value()
}

// notOnDisk fails the test if the stopped database at path, or its
// write-ahead log, holds secret in clear text, and returns the database
// file's bytes.
func notOnDisk(t *testing.T, path, secret string) []byte {
	t.Helper()
	var file []byte
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(path + suffix)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("%s holds the secret in clear text", path+suffix)
		}
		if suffix == "" {
			file = raw
		}
	}
	return file
}
