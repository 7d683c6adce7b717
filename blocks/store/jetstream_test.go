package store

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"micro.dev/micro/internal/natstest"
	pb "micro.dev/micro/proto/store"
)

// jsEnv is a store block on server s of a JetStream cluster (or a lone
// server) with the bucket at replicas, on the real clock.
func jsEnv(t *testing.T, s *server.Server, replicas int) *env {
	t.Helper()
	e := newEnv(t, WithJetStream(natstest.Connect(t, s), replicas))
	e.store.now = time.Now // JetStream's TTLs run on the real clock
	e.store.backend.(*jsBackend).now = time.Now
	return e
}

// TestJetStreamExpiryIsHeard: JetStream deletes an expired record by its
// TTL, and watchers hear the expiry from the marker it leaves.
func TestJetStreamExpiryIsHeard(t *testing.T) {
	e := jsEnv(t, natstest.Server(t), 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	w := e.watch(t, ctx, &pb.WatchRequest{Key: "ttl"})
	e.write(t, ctx, "ttl", "v", 1, nil)
	var got []string
	for range 2 {
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Type+" "+ev.Record.GetKey())
	}
	equal(t, "events", got, []string{"create ttl", "expire ttl"})
	if keys := e.list(t, ctx, nil); len(keys) != 0 {
		t.Fatalf("after expiry: %v", keys)
	}
}

// TestClusterR3: on a three-server cluster with the bucket at R3, a write
// through one node is read through another and heard by a watcher on the
// third, in the order written; a batch through one is all there on the
// others.
func TestClusterR3(t *testing.T) {
	servers := natstest.Cluster(t, 3)
	a, b, c := jsEnv(t, servers[0], 3), jsEnv(t, servers[1], 3), jsEnv(t, servers[2], 3)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	w := c.watch(t, ctx, &pb.WatchRequest{Key: "k/", Prefix: true})

	a.write(t, ctx, "k/1", "from a", 0, nil)
	rsp, err := b.client.Read(ctx, &pb.ReadRequest{Key: "k/1"})
	if err != nil || string(rsp.Records[0].Value) != "from a" {
		t.Fatalf("read through b of a write through a: %v %v", rsp, err)
	}
	first := rsp.Records[0].Revision
	// Compare-and-set through b against the revision a's write made.
	if err := b.casWrite(ctx, "k/1", "from b", rev(first)); err != nil {
		t.Fatal(err)
	}
	if err := a.casWrite(ctx, "k/1", "stale", rev(first)); err == nil {
		t.Fatal("a stale compare-and-set through a succeeded")
	}
	if _, err := b.client.Batch(ctx, &pb.BatchRequest{Operations: []*pb.BatchOperation{
		{Record: &pb.Record{Key: "k/2", Value: []byte("batch")}, IfRevision: rev(0)},
		{DeleteKey: "k/1", IfRevision: rev(b.revision(t, "k/1"))},
	}}); err != nil {
		t.Fatal(err)
	}
	// A key is read from the stream's leader; a scan is served by a
	// consumer that may sit on a replica a moment behind.
	if rsp, err := c.client.Read(ctx, &pb.ReadRequest{Key: "k/2"}); err != nil || string(rsp.Records[0].Value) != "batch" {
		t.Fatalf("read through c of a batch through b: %v %v", rsp, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		keysC := c.readKeys(t, "k/", &pb.ReadOptions{Prefix: true})
		keysA := a.list(t, ctx, &pb.ListOptions{Prefix: "k/"})
		if slices.Equal(keysC, []string{"k/2"}) && slices.Equal(keysA, []string{"k/2"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, scans through c: %q, through a: %q; want [k/2]", keysC, keysA)
		}
	}

	// A blob written through a, in several chunks, is read through b
	// (the object store reads its metadata from any replica: a moment).
	blob := randomBytes(2*BlobChunkSize + 5)
	if err := a.putBlob(ctx, "photo", blob, 0, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, _, err := b.getBlob(ctx, "photo", nil)
		if err == nil && bytes.Equal(got, blob) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blob through b: %d bytes, %v", len(got), err)
		}
	}

	var got []string
	for range 4 {
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Type+" "+ev.Record.GetKey()+"="+string(ev.Record.GetValue()))
	}
	equal(t, "c's watcher", got, []string{"create k/1=from a", "update k/1=from b", "create k/2=batch", "delete k/1="})
}
