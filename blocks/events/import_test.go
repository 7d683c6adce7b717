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

// TestImport copies an appliance's events (a real SQLite file) into
// events on a real JetStream: every event with its number, id, times and
// metadata, in order; a topic's retention; a durable group's position and
// pending events; a topic the cluster already has is kept; publishing
// goes on from the file's numbers; a second import duplicates nothing.
func TestImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	file := newEnv(t)
	const n = 250 // more than one import batch
	for i := 1; i <= n; i++ {
		if _, err := file.stream.Publish(ctx, &pb.PublishRequest{Topic: "orders", Payload: []byte(fmt.Sprint(i)),
			Metadata: map[string]string{"i": fmt.Sprint(i)}, Timestamp: int64(1000 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	src := file.events.backend
	if err := src.SetRetention(ctx, "micro", "orders", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if _, _, err := src.SaveGroup(ctx, "micro", "orders", "billing", GroupChange{Next: 101,
		Put: []Pending{{Seq: 100, ID: "e100", Deliveries: 2, Due: due}}}); err != nil {
		t.Fatal(err)
	}
	file.publish(t, "mine", "file's 1")
	file.publish(t, "mine", "file's 2")

	cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	if held, err := cluster.events.Held(ctx); err != nil || held != "" {
		t.Fatalf("empty cluster holds %q, %v", held, err)
	}
	cluster.publish(t, "mine", "cluster's")
	copied, kept, err := cluster.events.Import(ctx, file.db)
	if err != nil || copied != n+1 || kept != 2 {
		t.Fatalf("import: copied %d kept %d, %v; want %d (events and a group), 2", copied, kept, err, n+1)
	}
	want, err := src.Read(ctx, "micro", "orders", Query{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cluster.events.backend.Read(ctx, "micro", "orders", Query{})
	if err != nil || len(got) != n {
		t.Fatalf("read %d events, %v", len(got), err)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.Seq != w.Seq || !g.Published.Equal(w.Published) || g.Timestamp != w.Timestamp ||
			!reflect.DeepEqual(g.Metadata, w.Metadata) || string(g.Payload) != string(w.Payload) {
			t.Fatalf("event %d: got %+v, want %+v", i, g, w)
		}
	}
	if r, err := cluster.events.backend.Retention(ctx, "micro", "orders"); err != nil || r != 48*time.Hour {
		t.Fatalf("retention %v, %v", r, err)
	}
	g := cluster.group(t, "orders", "billing")
	if g.Next != 101 || len(g.Pending) != 1 || g.Pending[0].Seq != 100 || g.Pending[0].Deliveries != 2 || !g.Pending[0].Due.Equal(due) {
		t.Fatalf("group: %+v", g)
	}
	if mine := cluster.read(t, "mine"); len(mine) != 1 || string(mine[0].Payload) != "cluster's" {
		t.Fatalf("the cluster's topic was not kept: %v", mine)
	}
	if seq := cluster.publish(t, "orders", "next"); seq != n+1 {
		t.Fatalf("a publish after the import got number %d, want %d", seq, n+1)
	}
	if held, err := cluster.events.Held(ctx); err != nil || held == "" {
		t.Fatalf("after import the cluster holds %q, %v", held, err)
	}
	if copied, kept, err := cluster.events.Import(ctx, file.db); err != nil || copied != 0 || kept != n+2 {
		t.Fatalf("second import: copied %d kept %d, %v; want 0, %d", copied, kept, err, n+2)
	}
	if got := cluster.storedEvents(t); got != n+2 {
		t.Fatalf("%d events stored after importing twice, want %d", got, n+2)
	}
}
