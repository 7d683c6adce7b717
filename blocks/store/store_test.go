package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/store"
)

func TestWriteReadRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		in := &pb.Record{Key: "user/1", Value: []byte("\x00binary\xff"), Metadata: map[string]*pb.Field{
			"owner": {Type: "string", Value: "ada"},
			"age":   {Type: "int64", Value: "36"},
		}}
		if _, err := e.client.Write(t.Context(), &pb.WriteRequest{Record: in}); err != nil {
			t.Fatal(err)
		}
		rsp, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: "user/1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rsp.Records) != 1 {
			t.Fatalf("got %d records", len(rsp.Records))
		}
		got := rsp.Records[0]
		if got.Key != in.Key || !bytes.Equal(got.Value, in.Value) || got.Expiry != 0 {
			t.Fatalf("got %v", got)
		}
		if len(got.Metadata) != 2 || got.Metadata["owner"].GetValue() != "ada" || got.Metadata["age"].GetType() != "int64" {
			t.Fatalf("metadata: %v", got.Metadata)
		}
		// Metadata is stored as JSON, readable by SQL.
		var owner string
		if err := e.db.Read().QueryRow(`SELECT metadata ->> '$.owner.value' FROM store_records WHERE key = 'user/1'`).Scan(&owner); e.sqlite() && (err != nil || owner != "ada") {
			t.Fatalf("metadata column: %q %v", owner, err)
		}

		// A second write replaces value and metadata.
		if _, err := e.client.Write(t.Context(), &pb.WriteRequest{Record: &pb.Record{Key: "user/1", Value: []byte("v2")}}); err != nil {
			t.Fatal(err)
		}
		rsp, err = e.client.Read(t.Context(), &pb.ReadRequest{Key: "user/1"})
		if err != nil {
			t.Fatal(err)
		}
		if r := rsp.Records[0]; string(r.Value) != "v2" || len(r.Metadata) != 0 {
			t.Fatalf("after overwrite: %v", r)
		}
	})
}

func TestDefaults(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		e.write(t, t.Context(), "k", "v", 0, nil)

		// The record went to database "micro" (the default namespace), table "micro".
		keys := e.readKeys(t, "k", &pb.ReadOptions{Database: "micro", Table: "micro"})
		equal(t, "explicit defaults", keys, []string{"k"})
		equal(t, "list", e.list(t, t.Context(), nil), []string{"k"})

		dbs, err := e.client.Databases(t.Context(), &pb.DatabasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "databases", dbs.Databases, []string{"micro"})
		tables, err := e.client.Tables(t.Context(), &pb.TablesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "tables", tables.Tables, []string{"micro"})

		_, err = e.client.Read(t.Context(), &pb.ReadRequest{Key: "k", Options: &pb.ReadOptions{Table: "other"}})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("other table: %v", err)
		}
	})
}

func TestNamespaceSelectsDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		foo := metadata.Set(t.Context(), metadata.Namespace, "foo")
		e.write(t, foo, "k", "in foo", 0, nil)
		e.write(t, foo, "t", "in foo/tbl", 0, &pb.WriteOptions{Table: "tbl"})

		rsp, err := e.client.Read(foo, &pb.ReadRequest{Key: "k"})
		if err != nil || string(rsp.Records[0].Value) != "in foo" {
			t.Fatalf("read in foo: %v %v", rsp, err)
		}
		if _, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: "k"}); status.Code(err) != codes.NotFound {
			t.Fatalf("read from micro: %v", err)
		}
		// The default namespace can still name the database explicitly.
		equal(t, "explicit database", e.readKeys(t, "k", &pb.ReadOptions{Database: "foo"}), []string{"k"})
		equal(t, "list in foo", e.list(t, foo, nil), []string{"k"})
		equal(t, "list in micro", e.list(t, t.Context(), nil), nil)

		tables, err := e.client.Tables(foo, &pb.TablesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "tables of foo", tables.Tables, []string{"micro", "tbl"})

		e.write(t, t.Context(), "m", "in micro", 0, nil)
		dbs, err := e.client.Databases(t.Context(), &pb.DatabasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "databases", dbs.Databases, []string{"foo", "micro"})
	})
}

func TestQueries(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "b/2", "ab", "x.json", "a/y.json"} {
			e.write(t, t.Context(), k, "v", 0, nil)
		}
		reads := []struct {
			key  string
			o    *pb.ReadOptions
			want []string
		}{
			{"a/", &pb.ReadOptions{Prefix: true}, []string{"a/1", "a/2", "a/3", "a/y.json"}},
			{"", &pb.ReadOptions{Prefix: true}, []string{"a/1", "a/2", "a/3", "a/y.json", "ab", "b/1", "b/2", "x.json"}},
			{"", &pb.ReadOptions{Suffix: true, Limit: 2}, []string{"a/1", "a/2"}},
			{".json", &pb.ReadOptions{Suffix: true}, []string{"a/y.json", "x.json"}},
			{"a/", &pb.ReadOptions{Prefix: true, Order: "desc"}, []string{"a/y.json", "a/3", "a/2", "a/1"}},
			{"a/", &pb.ReadOptions{Prefix: true, Order: "ASC", Limit: 2, Offset: 1}, []string{"a/2", "a/3"}},
			{"a/", &pb.ReadOptions{Prefix: true, Offset: 10}, nil},
			{"nothing", &pb.ReadOptions{Prefix: true}, nil},
			{"1", &pb.ReadOptions{Suffix: true, Order: "desc", Limit: 1}, []string{"b/1"}},
			// Both set: the key must start and end with it.
			{"ab", &pb.ReadOptions{Prefix: true, Suffix: true}, []string{"ab"}},
		}
		for _, c := range reads {
			equal(t, fmt.Sprintf("read %q %v", c.key, c.o), e.readKeys(t, c.key, c.o), c.want)
		}
		lists := []struct {
			o    *pb.ListOptions
			want []string
		}{
			{nil, []string{"a/1", "a/2", "a/3", "a/y.json", "ab", "b/1", "b/2", "x.json"}},
			{&pb.ListOptions{Prefix: "b/"}, []string{"b/1", "b/2"}},
			{&pb.ListOptions{Suffix: ".json", Order: "desc"}, []string{"x.json", "a/y.json"}},
			{&pb.ListOptions{Prefix: "a", Suffix: "json"}, []string{"a/y.json"}},
			{&pb.ListOptions{Limit: 3, Offset: 2}, []string{"a/3", "a/y.json", "ab"}},
			{&pb.ListOptions{Prefix: "zzz"}, nil},
		}
		for _, c := range lists {
			equal(t, fmt.Sprintf("list %v", c.o), e.list(t, t.Context(), c.o), c.want)
		}
	})
}

func TestWildcardsAreLiteral(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		for _, k := range []string{"a%b", "a_b", "axb", "a%", "ab", `a\b`, "A%B"} {
			e.write(t, t.Context(), k, "v", 0, nil)
		}
		equal(t, "prefix a%", e.readKeys(t, "a%", &pb.ReadOptions{Prefix: true}), []string{"a%", "a%b"})
		equal(t, "prefix a_", e.readKeys(t, "a_", &pb.ReadOptions{Prefix: true}), []string{"a_b"})
		equal(t, "suffix %b", e.readKeys(t, "%b", &pb.ReadOptions{Suffix: true}), []string{"a%b"})
		equal(t, "suffix _b", e.list(t, t.Context(), &pb.ListOptions{Suffix: "_b"}), []string{"a_b"})
		equal(t, `prefix a\`, e.list(t, t.Context(), &pb.ListOptions{Prefix: `a\`}), []string{`a\b`})
		// Case matters, unlike LIKE.
		equal(t, "prefix A", e.list(t, t.Context(), &pb.ListOptions{Prefix: "A"}), []string{"A%B"})
	})
}

func TestExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		e.write(t, t.Context(), "short", "v", 10, &pb.WriteOptions{Database: "tmp"})
		e.write(t, t.Context(), "long", "v", 100, nil)
		e.write(t, t.Context(), "forever", "v", 0, nil)

		expiry := func(key, database string) int64 {
			t.Helper()
			rsp, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: key, Options: &pb.ReadOptions{Database: database}})
			if err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			return rsp.Records[0].Expiry
		}
		if got := expiry("short", "tmp"); got != 10 {
			t.Fatalf("fresh expiry %d, want 10", got)
		}
		e.clock.Advance(2500 * time.Millisecond)
		if got := expiry("short", "tmp"); got != 8 {
			t.Fatalf("expiry after 2.5s: %d, want 8 (rounded up)", got)
		}
		e.clock.Advance(7400 * time.Millisecond)
		if got := expiry("short", "tmp"); got != 1 {
			t.Fatalf("expiry 100ms before the end: %d, want 1", got)
		}
		if got := expiry("forever", ""); got != 0 {
			t.Fatalf("no expiry reads %d", got)
		}

		// At the instant it expires, it is gone from every read path.
		e.clock.Advance(100 * time.Millisecond)
		if _, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: "short", Options: &pb.ReadOptions{Database: "tmp"}}); status.Code(err) != codes.NotFound {
			t.Fatalf("expired read: %v", err)
		}
		equal(t, "prefix read", e.readKeys(t, "", &pb.ReadOptions{Database: "tmp", Prefix: true}), nil)
		equal(t, "list", e.list(t, t.Context(), &pb.ListOptions{Database: "tmp"}), nil)
		dbs, err := e.client.Databases(t.Context(), &pb.DatabasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "databases", dbs.Databases, []string{"micro"})
		tables, err := e.client.Tables(t.Context(), &pb.TablesRequest{Database: "tmp"})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "tables", tables.Tables, nil)
		if n := e.rows(t); e.sqlite() && n != 3 {
			t.Fatalf("%d rows before the sweep, want 3", n)
		}

		// Writing the key again creates it afresh.
		e.write(t, t.Context(), "short", "again", 5, &pb.WriteOptions{Database: "tmp"})
		if got := expiry("short", "tmp"); got != 5 {
			t.Fatalf("rewritten expiry %d", got)
		}
	})
}

func TestSweeperDeletesExpiredRows(t *testing.T) {
	e := newEnv(t, WithSweepInterval(time.Millisecond))
	// Many rows in one transaction: one write each would cost an fsync each.
	expires := e.clock.Now().Add(time.Second).UnixNano()
	err := e.db.Write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		for i := range 2*sweepBatch + 10 {
			if _, err := tx.ExecContext(ctx, upsert, "micro", "micro", fmt.Sprintf("tmp/%04d", i), expires, 0, "{}", []byte("v"), 0, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.write(t, t.Context(), "kept", "v", 0, nil)
	e.write(t, t.Context(), "later", "v", 60, nil)

	// Swept directly first: batches add up, live rows stay.
	if n, err := e.store.backend.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d %v", n, err)
	}
	e.clock.Advance(time.Second)
	if n, err := e.store.backend.Sweep(t.Context()); err != nil || n != 2*sweepBatch+10 {
		t.Fatalf("sweep: %d %v, want %d", n, err, 2*sweepBatch+10)
	}
	if n := e.rows(t); e.sqlite() && n != 2 {
		t.Fatalf("%d rows after the sweep, want 2", n)
	}

	// Then by the background sweeper.
	e.clock.Advance(time.Minute)
	e.store.Start(t.Context())
	deadline := time.Now().Add(10 * time.Second)
	for e.rows(t) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d rows, want 1", e.rows(t))
		}
		time.Sleep(time.Millisecond)
	}
	e.store.Close()
	equal(t, "left", e.list(t, t.Context(), nil), []string{"kept"})
}

func TestDeleteMissingIsNotAnError(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		e.write(t, t.Context(), "k", "v", 0, nil)
		for range 2 {
			if _, err := e.client.Delete(t.Context(), &pb.DeleteRequest{Key: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.client.Read(t.Context(), &pb.ReadRequest{Key: "k"}); status.Code(err) != codes.NotFound {
			t.Fatalf("read deleted: %v", err)
		}
	})
}

func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		long := strings.Repeat("k", MaxKeySize+1)
		ctx := t.Context()
		cases := []struct {
			name string
			call func() error
			code codes.Code
		}{
			{"read missing", func() error { _, err := e.client.Read(ctx, &pb.ReadRequest{Key: "nope"}); return err }, codes.NotFound},
			{"read empty key", func() error { _, err := e.client.Read(ctx, &pb.ReadRequest{}); return err }, codes.InvalidArgument},
			{"read long key", func() error { _, err := e.client.Read(ctx, &pb.ReadRequest{Key: long}); return err }, codes.InvalidArgument},
			{"read bad order", func() error {
				_, err := e.client.Read(ctx, &pb.ReadRequest{Key: "k", Options: &pb.ReadOptions{Prefix: true, Order: "up"}})
				return err
			}, codes.InvalidArgument},
			{"write no record", func() error { _, err := e.client.Write(ctx, &pb.WriteRequest{}); return err }, codes.InvalidArgument},
			{"write empty key", func() error {
				_, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Value: []byte("v")}})
				return err
			}, codes.InvalidArgument},
			{"write long key", func() error {
				_, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: long}})
				return err
			}, codes.InvalidArgument},
			{"write negative expiry", func() error {
				_, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: "k", Expiry: -1}})
				return err
			}, codes.InvalidArgument},
			{"write huge expiry", func() error {
				_, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: "k", Expiry: MaxExpiry + 1}})
				return err
			}, codes.InvalidArgument},
			{"write long table", func() error {
				_, err := e.client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: "k"}, Options: &pb.WriteOptions{Table: long}})
				return err
			}, codes.InvalidArgument},
			{"delete empty key", func() error { _, err := e.client.Delete(ctx, &pb.DeleteRequest{}); return err }, codes.InvalidArgument},
			{"list bad order", func() error {
				s, err := e.client.List(ctx, &pb.ListRequest{Options: &pb.ListOptions{Order: "random"}})
				if err == nil {
					_, err = s.Recv()
				}
				return err
			}, codes.InvalidArgument},
		}
		for _, c := range cases {
			err := c.call()
			if status.Code(err) != c.code {
				t.Errorf("%s: got %v, want %v", c.name, err, c.code)
				continue
			}
			if me := errors.FromError(err, ""); me.ID != "store" || me.Detail == "" {
				t.Errorf("%s: not a store error: %+v", c.name, me)
			}
		}
		_, err := e.client.Read(ctx, &pb.ReadRequest{Key: "k", Options: &pb.ReadOptions{Order: "up"}})
		if me := errors.FromError(err, ""); !strings.Contains(me.Detail, "asc or desc") {
			t.Errorf("order error does not name the allowed values: %q", me.Detail)
		}
		if me := errors.FromError(e.readErr(ctx, "nope"), ""); me.Code != 404 || me.Detail != "not found" {
			t.Errorf("not found: %+v", me)
		}
	})
}

func (e *env) readErr(ctx context.Context, key string) error {
	_, err := e.client.Read(ctx, &pb.ReadRequest{Key: key})
	return err
}

// TestInProcessCalls calls the handlers directly, as the node may, with
// requests no wire could carry.
func TestInProcessCalls(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := auth.ContextWithAccount(t.Context(), &auth.Account{ID: "admin", Issuer: "micro", Type: "user", Scopes: []string{"admin"}})
		if _, err := e.store.Write(ctx, nil); errors.Code(err) != 400 || !strings.Contains(err.Error(), "record is required") {
			t.Fatalf("nil request: %v", err)
		}
		rec := &pb.Record{Key: "k", Metadata: map[string]*pb.Field{"nil": nil}}
		if _, err := e.store.Write(ctx, &pb.WriteRequest{Record: rec}); err != nil {
			t.Fatalf("nil options, nil field: %v", err)
		}
		if _, err := e.store.Read(ctx, &pb.ReadRequest{Key: "k"}); err != nil {
			t.Fatalf("nil options: %v", err)
		}
		if _, err := e.store.Read(ctx, nil); errors.Code(err) != 400 {
			t.Fatalf("nil read: %v", err)
		}
		if _, err := e.store.Delete(ctx, &pb.DeleteRequest{Key: "k"}); err != nil {
			t.Fatalf("delete, nil options: %v", err)
		}
		if _, err := e.store.Tables(ctx, nil); err != nil {
			t.Fatalf("nil tables: %v", err)
		}
		big := &pb.Record{Key: "big", Value: make([]byte, MaxValueSize+1)}
		if _, err := e.store.Write(ctx, &pb.WriteRequest{Record: big}); errors.Code(err) != 400 {
			t.Fatalf("value over the limit: %v", err)
		}
	})
}

func TestConcurrentWritesAllLand(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Go(func() {
				_, err := e.client.Write(t.Context(), &pb.WriteRequest{Record: &pb.Record{Key: fmt.Sprintf("k%02d", i), Value: []byte("v")}})
				errs <- err
				// Everyone also writes one shared key: each write bumps its revision.
				_, err = e.client.Write(t.Context(), &pb.WriteRequest{Record: &pb.Record{Key: "shared"}, Options: &pb.WriteOptions{Table: "t"}})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if keys := e.list(t, t.Context(), nil); len(keys) != n {
			t.Fatalf("%d keys, want %d", len(keys), n)
		}
		recs, err := e.store.backend.Read(t.Context(), "micro", "t", Query{Key: "shared"})
		if err != nil || len(recs) != 1 || (e.sqlite() && recs[0].Revision != n) {
			t.Fatalf("shared record: %+v %v, want revision %d", recs, err, n)
		}
	})
}

// TestNeedsAdminOfTheNamespace: every call needs an admin or service
// account of the database's namespace; an admin of micro may use any.
func TestNeedsAdminOfTheNamespace(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		e.write(t, ctx, "k", "v", 0, &pb.WriteOptions{Database: "acme"})
		e.write(t, ctx, "k", "v", 0, nil)

		cases := []struct {
			caller   string
			database string
			code     int32
		}{
			{"anonymous", "acme", 401},
			{"acme/user/", "acme", 403},
			{"acme/user/admin", "acme", 0},
			{"acme/service/service", "acme", 0},
			{"acme/user/admin", "micro", 403},
			{"acme/service/service", "micro", 403},
			{"micro/service/service", "acme", 0},
			{"micro/user/", "acme", 403},
			{"micro/user/admin", "acme", 0},
		}
		for _, c := range cases {
			cctx := asCaller(ctx, c.caller)
			_, rerr := e.client.Read(cctx, &pb.ReadRequest{Key: "k", Options: &pb.ReadOptions{Database: c.database}})
			_, werr := e.client.Write(cctx, &pb.WriteRequest{Record: &pb.Record{Key: "k", Value: []byte("v")}, Options: &pb.WriteOptions{Database: c.database}})
			_, derr := e.client.Tables(cctx, &pb.TablesRequest{Database: c.database})
			for op, err := range map[string]error{"read": rerr, "write": werr, "tables": derr} {
				if got := errors.Code(err); got != c.code {
					t.Errorf("%s as %s on %s: code %d (%v), want %d", op, c.caller, c.database, got, err, c.code)
				}
			}
		}

		// Databases lists only what the caller administers.
		dbs, err := e.client.Databases(metadata.Set(asCaller(ctx, "acme/user/admin"), metadata.Namespace, "acme"), &pb.DatabasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "acme admin's databases", dbs.Databases, []string{"acme"})
		dbs, err = e.client.Databases(ctx, &pb.DatabasesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "micro admin's databases", dbs.Databases, []string{"acme", "micro"})
		if _, err := e.client.Databases(asCaller(ctx, "anonymous"), &pb.DatabasesRequest{}); errors.Code(err) != 401 {
			t.Fatalf("anonymous databases: %v", err)
		}
	})
}
