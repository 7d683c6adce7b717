package store

import (
	"strings"
	"testing"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// TestBatchAllOrNothing: a batch's writes and deletes land together; one
// revision that does not match leaves every record as it was.
func TestBatchAllOrNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		e.write(t, ctx, "old", "x", 0, nil)
		w := func(table, key, value string, r *uint64) *pb.BatchOperation {
			return &pb.BatchOperation{Table: table, Record: &pb.Record{Key: key, Value: []byte(value)}, IfRevision: r}
		}
		old := e.revision(t, "old")
		ops := []*pb.BatchOperation{
			w("", "a", "1", rev(0)),
			w("idx", "email/a@b.c", "a", rev(0)),
			{DeleteKey: "old", IfRevision: rev(old)},
			w("", "a", "2", nil),
		}
		if e.sqlite() {
			// Revisions count per record: the next one is known.
			ops[3].IfRevision = rev(1) // sees the first operation
		}
		rsp, err := e.client.Batch(ctx, &pb.BatchRequest{Operations: ops})
		if err != nil {
			t.Fatal(err)
		}
		got := rsp.Revisions
		switch {
		case len(got) != 4 || got[2] != 0:
			t.Fatalf("revisions %v", got)
		case e.sqlite() && (got[0] != 1 || got[1] != 1 || got[3] != 2):
			t.Fatalf("revisions %v, want [1 1 0 2]", got)
		case !e.sqlite() && !(old < got[0] && got[0] < got[1] && got[1] < got[3]):
			t.Fatalf("revisions %v, want increasing sequence numbers after %d", got, old)
		}
		if a := e.revision(t, "a"); a != got[3] {
			t.Fatalf("a at revision %d, the batch said %d", a, got[3])
		}
		equal(t, "default table", e.readKeys(t, "", &pb.ReadOptions{Prefix: true}), []string{"a"})
		equal(t, "idx table", e.readKeys(t, "", &pb.ReadOptions{Table: "idx", Prefix: true}), []string{"email/a@b.c"})

		// The third operation's revision is stale: nothing of it applies.
		_, err = e.client.Batch(ctx, &pb.BatchRequest{Operations: []*pb.BatchOperation{
			w("", "b", "1", nil),
			{Table: "idx", DeleteKey: "email/a@b.c"},
			w("", "a", "3", rev(got[0])), // a is at got[3]
		}})
		if me := errors.FromError(err, ""); me.Code != 412 || !strings.Contains(me.Detail, "operation 2") || !strings.Contains(me.Detail, "nothing was applied") {
			t.Fatalf("stale batch: %v", err)
		}
		equal(t, "after failed batch", e.readKeys(t, "", &pb.ReadOptions{Prefix: true}), []string{"a"})
		equal(t, "idx after failed batch", e.readKeys(t, "", &pb.ReadOptions{Table: "idx", Prefix: true}), []string{"email/a@b.c"})
		if n := e.rows(t); e.sqlite() && n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
		if !e.sqlite() {
			// A condition on a record the batch wrote before cannot be
			// checked: its revision is the batch's own.
			_, err = e.client.Batch(ctx, &pb.BatchRequest{Operations: []*pb.BatchOperation{
				w("", "c", "1", nil),
				w("", "c", "2", rev(1)),
			}})
			if me := errors.FromError(err, ""); me.Code != 412 || !strings.Contains(me.Detail, "operation 1") || !strings.Contains(me.Detail, "not known before the batch commits") {
				t.Fatalf("condition on a record written earlier in the batch: %v", err)
			}
			equal(t, "after the refused batch", e.readKeys(t, "", &pb.ReadOptions{Prefix: true}), []string{"a"})
		}
	})
}

func TestBatchBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, be ...Option) {
		e := newEnv(t, be...)
		ctx := t.Context()
		many := make([]*pb.BatchOperation, MaxBatchOps+1)
		for i := range many {
			many[i] = &pb.BatchOperation{DeleteKey: "k"}
		}
		for name, req := range map[string]*pb.BatchRequest{
			"empty":      {},
			"too many":   {Operations: many},
			"neither":    {Operations: []*pb.BatchOperation{{Table: "t"}}},
			"both":       {Operations: []*pb.BatchOperation{{Record: &pb.Record{Key: "k"}, DeleteKey: "k"}}},
			"no key":     {Operations: []*pb.BatchOperation{{Record: &pb.Record{Value: []byte("v")}}}},
			"long key":   {Operations: []*pb.BatchOperation{{DeleteKey: strings.Repeat("k", MaxKeySize+1)}}},
			"bad expiry": {Operations: []*pb.BatchOperation{{Record: &pb.Record{Key: "k", Expiry: -1}}}},
			"long table": {Operations: []*pb.BatchOperation{{Table: strings.Repeat("t", 256), DeleteKey: "k"}}},
		} {
			if _, err := e.client.Batch(ctx, req); errors.Code(err) != 400 {
				t.Errorf("%s: %v, want a 400", name, err)
			}
		}
		if n := e.rows(t); e.sqlite() && n != 0 {
			t.Fatalf("%d rows after refused batches", n)
		}
		// Another namespace's database is refused like any other call.
		_, err := e.client.Batch(asCaller(ctx, "team/user/admin"), &pb.BatchRequest{Database: "other",
			Operations: []*pb.BatchOperation{{DeleteKey: "k"}}})
		if c := errors.Code(err); c != 401 && c != 403 {
			t.Fatalf("other namespace: %v", err)
		}
	})
}
