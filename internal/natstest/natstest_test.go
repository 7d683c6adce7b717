package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/internal/natstest"
)

func TestClusterReplicatesAcrossServers(t *testing.T) {
	servers := natstest.Cluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	kv, err := natstest.Connect(t, servers[0]).CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	other, err := natstest.Connect(t, servers[2]).KeyValue(ctx, "probe")
	if err != nil {
		t.Fatal(err)
	}
	e, err := other.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) != "v" {
		t.Fatalf("read %q on the third server, want %q", e.Value(), "v")
	}
	info, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
		t.Fatal("bucket is not replicated three times")
	}
}

func TestServerStoresStreams(t *testing.T) {
	s := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := natstest.Connect(t, s)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "probe", Subjects: []string{"probe.>"}}); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "probe.a", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 1 {
		t.Fatalf("first message has sequence %d", ack.Sequence)
	}
}
