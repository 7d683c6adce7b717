package trace

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

func newBlock(t *testing.T, opts ...Option) (*Trace, *schema.DB) {
	t.Helper()
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, auth.Namespaces, opts...), db
}

// as is a context of an account of namespace ns: a service account when
// admin, else a plain user.
func as(ns string, admin bool) context.Context {
	acc := &auth.Account{ID: "x", Issuer: ns, Type: auth.TypeUser}
	if admin {
		acc.Type, acc.Scopes = auth.TypeService, []string{auth.ScopeService}
	}
	return auth.ContextWithAccount(grpcmd.NewIncomingContext(context.Background(), grpcmd.Pairs(metadata.Namespace, ns)), acc)
}

func span(trace, id, parent string, start int64) *pb.Span {
	return &pb.Span{TraceId: trace, SpanId: id, ParentId: parent, Service: "svc", Name: "op", Kind: "server", Start: start, End: start + 10}
}

func tid(i int) string { return fmt.Sprintf("%032x", i) }
func sid(i int) string { return fmt.Sprintf("%016x", i) }

// TestCapDropsOldest records more spans than the cap: the oldest go, the
// newest stay, and reads and lists see only what is kept.
func TestCapDropsOldest(t *testing.T) {
	tr, db := newBlock(t, WithMaxSpans(5))
	ctx := as("micro", true)
	for i := 1; i <= 8; i++ {
		if _, err := tr.Record(ctx, &pb.RecordRequest{Spans: []*pb.Span{span(tid(i), sid(i), "", int64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.Read().QueryRow(`SELECT count(*) FROM trace_spans`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d rows kept (%v), want the cap, 5", n, err)
	}
	if _, err := tr.Read(ctx, &pb.ReadRequest{TraceId: tid(3)}); errors.Code(err) != 404 {
		t.Fatalf("an old trace: %v, want 404", err)
	}
	r, err := tr.Read(ctx, &pb.ReadRequest{TraceId: tid(8)})
	if err != nil || len(r.Spans) != 1 || r.Spans[0].SpanId != sid(8) {
		t.Fatalf("the newest trace: %v %v", r, err)
	}
	l, err := tr.List(ctx, &pb.ListRequest{Limit: 3})
	if err != nil || len(l.Traces) != 3 || l.Traces[0].TraceId != tid(8) || l.Traces[2].TraceId != tid(6) {
		t.Fatalf("list: %v %v", l, err)
	}
}

// TestRecordChecks refuses spans that are not W3C's or are too big, and
// callers who do not administer the namespace.
func TestRecordChecks(t *testing.T) {
	tr, _ := newBlock(t)
	ctx := as("micro", true)
	big := span(tid(1), sid(1), "", 1)
	big.Name = string(make([]byte, maxField+1))
	tooMany := make([]*pb.Span, MaxRecord+1)
	for i := range tooMany {
		tooMany[i] = span(tid(1), sid(i+1), "", 1)
	}
	for name, spans := range map[string][]*pb.Span{
		"short trace id": {span("abc", sid(1), "", 1)},
		"upper-case id":  {span("4BF92F3577B34DA6A3CE929D0E0E4736", sid(1), "", 1)},
		"bad parent":     {span(tid(1), sid(1), "zz", 1)},
		"ends before":    {{TraceId: tid(1), SpanId: sid(1), Start: 10, End: 5}},
		"name too long":  {big},
		"too many spans": tooMany,
	} {
		if _, err := tr.Record(ctx, &pb.RecordRequest{Spans: spans}); errors.Code(err) != 400 {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}
	for name, ctx := range map[string]context.Context{
		"anonymous":       grpcmd.NewIncomingContext(context.Background(), grpcmd.Pairs(metadata.Namespace, "micro")),
		"non-admin":       as("micro", false),
		"other namespace": as("other", true),
	} {
		if _, err := tr.Record(ctx, &pb.RecordRequest{Namespace: "micro", Spans: []*pb.Span{span(tid(1), sid(1), "", 1)}}); errors.Code(err) != 401 && errors.Code(err) != 403 {
			t.Errorf("record as %s: %v, want 401 or 403", name, err)
		}
		if _, err := tr.List(ctx, &pb.ListRequest{Namespace: "micro"}); errors.Code(err) != 401 && errors.Code(err) != 403 {
			t.Errorf("list as %s: %v, want 401 or 403", name, err)
		}
	}
}

// TestCapIsPerNamespace: a namespace recording many spans loses its own
// oldest, never a quieter namespace's; past the total cap the namespaces
// holding the most give way, down to a fair share, so the file stays
// bounded.
func TestCapIsPerNamespace(t *testing.T) {
	tr, db := newBlock(t, WithMaxSpans(10), WithMaxSpansPerNamespace(6))
	record := func(tr *Trace, ns string, from, n int) {
		t.Helper()
		var spans []*pb.Span
		for i := from; i < from+n; i++ {
			spans = append(spans, span(tid(i), sid(i), "", int64(i)))
		}
		if _, err := tr.Record(as(ns, true), &pb.RecordRequest{Spans: spans}); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() map[string][]int64 {
		t.Helper()
		rows, err := db.Read().Query(`SELECT ns, start_at FROM trace_spans ORDER BY ns, id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]int64{}
		for rows.Next() {
			var ns string
			var start int64
			if err := rows.Scan(&ns, &start); err != nil {
				t.Fatal(err)
			}
			out[ns] = append(out[ns], start)
		}
		return out
	}
	record(tr, "quiet", 1, 3)
	for i := range 4 {
		record(tr, "noisy", 100+5*i, 5)
	}
	got := kept()
	if fmt.Sprint(got["quiet"]) != "[1 2 3]" || fmt.Sprint(got["noisy"]) != "[114 115 116 117 118 119]" {
		t.Fatalf("kept %v; want quiet's 3 and noisy's newest 6 (its cap)", got)
	}
	// A third namespace takes the total past 10: the two largest give way.
	record(tr, "third", 200, 6)
	got = kept()
	if fmt.Sprint(got["quiet"]) != "[1 2 3]" || fmt.Sprint(got["noisy"]) != "[116 117 118 119]" || fmt.Sprint(got["third"]) != "[203 204 205]" {
		t.Fatalf("kept %v; want quiet's 3, noisy's newest 4, third's newest 3", got)
	}
	// A block opened on the file counts what is there.
	again := New(db, auth.Namespaces, WithMaxSpans(10), WithMaxSpansPerNamespace(6))
	record(again, "other", 300, 2)
	got = kept()
	total := 0
	for _, s := range got {
		total += len(s)
	}
	if total != 10 || len(got["other"]) != 2 || len(got["quiet"]) != 3 {
		t.Fatalf("after reopening kept %v; want 10 in all, other's 2 and quiet's 3", got)
	}
}

// TestRecordManyAtOnce records a batch that spans several multi-row
// inserts and a shorter last one: every span is stored once, in order,
// with its own fields.
func TestRecordManyAtOnce(t *testing.T) {
	tr, db := newBlock(t)
	const n = 2*rowsPerInsert + 5
	var spans []*pb.Span
	for i := range n {
		s := span(tid(i+1), sid(i+1), "", int64(i))
		s.Attributes = map[string]string{"i": fmt.Sprint(i)}
		spans = append(spans, s)
	}
	if _, err := tr.Record(as("micro", true), &pb.RecordRequest{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Read().Query(`SELECT trace_id, span_id, start_at, attributes FROM trace_spans ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var trace, id, attrs string
		var start int64
		if err := rows.Scan(&trace, &id, &start, &attrs); err != nil {
			t.Fatal(err)
		}
		if trace != tid(i+1) || id != sid(i+1) || start != int64(i) || attrs != fmt.Sprintf(`{"i":"%d"}`, i) {
			t.Fatalf("row %d: %s %s %d %s", i, trace, id, start, attrs)
		}
	}
	if i != n {
		t.Fatalf("%d spans stored, want %d", i, n)
	}
}
