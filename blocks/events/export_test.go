package events

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/events"
)

// TestExport copies events on a real JetStream into a fresh SQLite file
// and that file into a second JetStream (a cluster backup restored with an
// import): every event with its number, id, times and metadata, in order,
// a topic's retention, a durable group's position and pending events, in
// two namespaces, equal at every step; publishing on the file goes on from
// the cluster's numbers.
func TestExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	const n = 250 // more than one page
	for i := 1; i <= n; i++ {
		if _, err := cluster.stream.Publish(ctx, &pb.PublishRequest{Topic: "orders", Payload: []byte(fmt.Sprint(i)),
			Metadata: map[string]string{"i": fmt.Sprint(i)}, Timestamp: int64(1000 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	src := cluster.events.backend
	if err := src.SetRetention(ctx, "micro", "orders", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if _, _, err := src.SaveGroup(ctx, "micro", "orders", "billing", GroupChange{Next: 101,
		Put: []Pending{{Seq: 100, ID: "e100", Deliveries: 2, Due: due}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Append(ctx, "shop", "paid", []Event{{ID: "p1", Payload: []byte("x"), Timestamp: 7}}); err != nil {
		t.Fatal(err)
	}

	same := func(where string, be Backend) {
		t.Helper()
		for _, at := range []struct{ ns, topic string }{{"micro", "orders"}, {"shop", "paid"}} {
			want, err := src.Read(ctx, at.ns, at.topic, Query{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := be.Read(ctx, at.ns, at.topic, Query{})
			if err != nil || len(got) != len(want) {
				t.Fatalf("%s: %s/%s: read %d events, %v; want %d", where, at.ns, at.topic, len(got), err, len(want))
			}
			for i := range want {
				w, g := want[i], got[i]
				if g.ID != w.ID || g.Seq != w.Seq || !g.Published.Equal(w.Published) || g.Timestamp != w.Timestamp ||
					!reflect.DeepEqual(g.Metadata, w.Metadata) || string(g.Payload) != string(w.Payload) {
					t.Fatalf("%s: event %d: got %+v, want %+v", where, i, g, w)
				}
			}
		}
		if r, err := be.Retention(ctx, "micro", "orders"); err != nil || r != 48*time.Hour {
			t.Fatalf("%s: retention %v, %v", where, r, err)
		}
		g, found, err := be.LoadGroup(ctx, "micro", "orders", "billing")
		if err != nil || !found || g.Next != 101 || len(g.Pending) != 1 || g.Pending[0].Seq != 100 || g.Pending[0].ID != "e100" ||
			g.Pending[0].Deliveries != 2 || !g.Pending[0].Due.Equal(due) {
			t.Fatalf("%s: group: %+v %v %v", where, g, found, err)
		}
	}

	file := newEnv(t)
	copied, err := cluster.events.Export(ctx, file.db)
	if err != nil || copied != n+2 {
		t.Fatalf("export: copied %d, %v; want %d (events and a group)", copied, err, n+2)
	}
	same("the file", file.events.backend)
	if since, err := file.events.backend.SeqSince(ctx, "micro", "orders", time.Now().Add(time.Hour)); err != nil || since != n+1 {
		t.Fatalf("the file's orders: past the last publish time is number %d, %v; want %d", since, err, n+1)
	}

	again := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	if copied, kept, err := again.events.Import(ctx, file.db); err != nil || copied != n+2 || kept != 0 {
		t.Fatalf("import of the export: copied %d kept %d, %v", copied, kept, err)
	}
	same("the second cluster", again.events.backend)

	if seq := file.publish(t, "orders", "next"); seq != n+1 {
		t.Fatalf("a publish on the file got number %d, want %d", seq, n+1)
	}
}
