package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"micro.dev/micro/internal/testkit"
)

const testSecret = "a-test-secret-of-enough-length"

// startCluster starts n nodes on loopback, routed to each other, at once
// (a majority must be up before any is ready).
func startCluster(t *testing.T, n int) ([]*Cluster, []Config) {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = testkit.FreeAddr(t)
	}
	dir := t.TempDir()
	cfgs := make([]Config, n)
	for i := range cfgs {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		cfgs[i] = Config{Listen: "nats://" + addrs[i], Peers: peers, Secret: testSecret,
			Data: filepath.Join(dir, fmt.Sprintf("n%d.db", i)), Logger: slog.New(slog.DiscardHandler), ReadyTimeout: time.Minute}
	}
	cs := testkit.StartAll(t, n, func(i int) (*Cluster, error) { return Start(context.Background(), cfgs[i]) })
	for _, c := range cs {
		t.Cleanup(func() { c.Close() })
	}
	return cs, cfgs
}

func TestConfigRefuses(t *testing.T) {
	data := filepath.Join(t.TempDir(), "micro.db")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "nats://0.0.0.0:6222", Data: data}, "--cluster-secret (MICRO_CLUSTER_SECRET) is required"},
		{Config{Listen: ":6222", Data: data}, "--cluster-secret (MICRO_CLUSTER_SECRET) is required"},
		{Config{Listen: "nats://10.0.0.1:6222", Data: data, Secret: "short"}, "at least 16"},
		{Config{Listen: "nats://127.0.0.1:6222", Data: data, Secret: "short"}, "at least 16"},
		{Config{Listen: "http://127.0.0.1:6222", Data: data}, "not nats://HOST:PORT"},
		{Config{Listen: "nats://127.0.0.1", Data: data}, "no valid port"},
		{Config{Listen: "nats://127.0.0.1:6222", Peers: []string{":6222"}, Data: data}, "no host"},
		{Config{Listen: "nats://127.0.0.1:6222", Name: "a b", Data: data}, "--cluster-name"},
		{Config{Listen: "nats://127.0.0.1:6222", TLSCert: "c.pem", Data: data}, "go together"},
		{Config{Listen: "nats://127.0.0.1:6222", TLSCA: "ca.pem", Data: data}, "--cluster-tls-ca needs"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.cfg, err, tc.want)
		}
		if _, err := Start(context.Background(), tc.cfg); err == nil {
			t.Errorf("%+v: started", tc.cfg)
		}
	}
	if err := (Config{Listen: "nats://127.0.0.1:6222", Data: data}).Validate(); err != nil {
		t.Errorf("loopback without a secret: %v", err)
	}
}

// TestStranger: a server without the secret is refused its route, so it
// never sees the cluster's data; one with the secret joins.
func TestStrangerCannotJoin(t *testing.T) {
	cs, cfgs := startCluster(t, 3)
	for i, c := range cs {
		if c.Replicas() != 3 || c.Size() != 3 {
			t.Fatalf("node %d: replicas %d size %d", i, c.Replicas(), c.Size())
		}
	}
	stranger := Config{Listen: "nats://" + testkit.FreeAddr(t), Peers: []string{cfgs[0].Listen}, Secret: "not-the-cluster-secret-at-all",
		Data: filepath.Join(t.TempDir(), "s.db"), Logger: slog.New(slog.DiscardHandler), ReadyTimeout: 3 * time.Second}
	// Alone it has no majority of its two nodes, and the route is refused.
	if s, err := Start(context.Background(), stranger); err == nil {
		s.Close()
		t.Fatal("a node with another secret joined")
	} else if !strings.Contains(err.Error(), "meta leader") {
		t.Fatalf("stranger: %v", err)
	}
	name, err := os.ReadFile(filepath.Join(StoreDir(stranger.Data), "server-name"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		st, err := c.Status(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Peers {
			if p.Name == strings.TrimSpace(string(name)) {
				t.Fatalf("node %s knows the stranger: %+v", st.Node, p)
			}
		}
		if len(st.Peers) != 3 {
			t.Fatalf("node %s sees %d peers: %+v", st.Node, len(st.Peers), st.Peers)
		}
	}
}

// TestReplicatedAcrossNodes writes through one node's JetStream and reads
// through another's; the status names a leader and two replicas, and the
// members bucket maps every node to its proxy.
func TestReplicatedAcrossNodes(t *testing.T) {
	cs, cfgs := startCluster(t, 3)
	ctx := context.Background()
	kv, err := cs[0].JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "micro_test", Replicas: cs[0].Replicas()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	kv2, err := cs[2].JetStream().KeyValue(ctx, "micro_test")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv2.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("read through node 2: %v %v", e, err)
	}

	var ms []*Members
	for i, c := range cs {
		m, err := c.Announce(ctx, Member{Proxy: fmt.Sprintf("127.0.0.1:%d", 9000+i), Forward: fmt.Sprintf("127.0.0.1:%d", 6300+i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		ms = append(ms, m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, ok := ms[1].Forward(cs[2].ServerName())
		if ok && addr == "127.0.0.1:6302" && len(ms[1].List()) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 does not see node 2's forwarding address: %q %v, members %+v", addr, ok, ms[1].List())
		}
		time.Sleep(50 * time.Millisecond)
	}

	st, err := cs[1].Status(ctx, ms[1])
	if err != nil {
		t.Fatal(err)
	}
	if st.MetaLeader == "" || !st.Healthy() || len(st.Peers) != 3 {
		t.Fatalf("status: %+v", st)
	}
	found := false
	for _, s := range st.Streams {
		if s.Name == "KV_micro_test" {
			found = true
			if s.Leader == "" || len(s.Replicas) != 2 || s.Messages != 1 {
				t.Fatalf("stream %+v", s)
			}
		}
	}
	if !found {
		t.Fatalf("no KV_micro_test in %+v", st.Streams)
	}

	// The server's name is kept beside the data: a restart is the same
	// peer to JetStream.
	name, err := os.ReadFile(filepath.Join(StoreDir(cfgs[0].Data), "server-name"))
	if err != nil || strings.TrimSpace(string(name)) != cs[0].ServerName() {
		t.Fatalf("server-name file %q (%v), server %q", name, err, cs[0].ServerName())
	}
}

// TestNodesCreateBucketsTogether: three nodes starting together create
// the same buckets and streams at once, as their blocks do; each call
// returns without error (retry.go).
func TestNodesCreateBucketsTogether(t *testing.T) {
	cs, _ := startCluster(t, 3)
	var wg sync.WaitGroup
	errs := make(chan error, 3*4)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range 4 {
				_, err := c.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: fmt.Sprintf("micro_b%d", i), Replicas: 3})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
