package trace

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"micro.dev/micro/framework/auth"
	pb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

// TestLeanSpansMigration opens a file written before migration 003 (its
// table with AUTOINCREMENT and the (ns, service, id) index): the spans
// are kept with their ids, reads, lists and the cap work on them, new
// spans number after them, and neither the sequence row nor the unused
// index is left.
func TestLeanSpansMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	before := fstest.MapFS{}
	for _, name := range []string{"001_init.sql", "002_ns_index.sql"} {
		b, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: b}
	}
	ctx := context.Background()
	old, err := schema.Open(ctx, path, schema.Options{Migrations: []schema.Migrations{{Block: "trace", FS: before}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		if err := New(old, auth.Namespaces).Keep(ctx, "micro", []*pb.Span{span(tid(i), sid(i), "", int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db, err := schema.Open(ctx, path, schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq, service int
	db.Read().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'trace_spans')`).Scan(&seq)
	db.Read().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'trace_spans_service'`).Scan(&service)
	if seq != 0 || service != 0 {
		t.Fatalf("after the migration: sequence row %d, service index %d; want neither", seq, service)
	}
	tr := New(db, auth.Namespaces, WithMaxSpans(4))
	if err := tr.Keep(ctx, "micro", []*pb.Span{span(tid(5), sid(5), "", 5), span(tid(6), sid(6), "", 6)}); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Read().Query(`SELECT id, trace_id FROM trace_spans ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	last := int64(0)
	for rows.Next() {
		var id int64
		var trace string
		if err := rows.Scan(&id, &trace); err != nil {
			t.Fatal(err)
		}
		if id <= last {
			t.Fatalf("ids not increasing: %d after %d", id, last)
		}
		last = id
		got = append(got, trace)
	}
	// The cap of 4 dropped the oldest kept span (trace 2); the rest are in
	// the order recorded.
	if want := []string{tid(3), tid(4), tid(5), tid(6)}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("kept %v, want %v", got, want)
	}
	admin := as("micro", true)
	r, err := tr.Read(admin, &pb.ReadRequest{TraceId: tid(3)})
	if err != nil || len(r.Spans) != 1 || r.Spans[0].SpanId != sid(3) {
		t.Fatalf("read a migrated span: %v %v", r, err)
	}
	l, err := tr.List(admin, &pb.ListRequest{Service: "svc"})
	if err != nil || len(l.Traces) != 4 || l.Traces[0].TraceId != tid(6) || l.Traces[3].TraceId != tid(3) {
		t.Fatalf("list by service: %v %v", l, err)
	}
}
