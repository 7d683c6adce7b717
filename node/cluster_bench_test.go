package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/cluster"
	"micro.dev/micro/internal/testkit"
	authpb "micro.dev/micro/proto/auth"
	eventspb "micro.dev/micro/proto/events"
	storepb "micro.dev/micro/proto/store"
)

// The cluster's cost, measured beside the single-file appliance in the
// same run (make bench's ratio table pairs them): store writes and event
// publishes through a node's proxy, by 16 parallel callers, on one node
// without --cluster (Appliance) and on a node of a three-node cluster on
// loopback (Cluster, R3 on JetStream). BenchmarkClusterCatchUp times a
// node killed before 100k writes coming back current.

const benchSecret = "bench-cluster-secret-0123456789"

// clusterConfigs are the configs of n nodes on loopback routed to each
// other, with data files in dir.
func clusterConfigs(tb testing.TB, dir string, n int) []Config {
	routes := make([]string, n)
	for i := range routes {
		routes[i] = testkit.FreeAddr(tb)
	}
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = Config{Data: filepath.Join(dir, fmt.Sprintf("n%d.db", i)), GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0",
			ClusterForward: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
			Cluster: cluster.Config{Listen: "nats://" + routes[i], Peers: routes, Secret: benchSecret, ReadyTimeout: time.Minute}}
	}
	return cfgs
}

// startNodes starts nodes of cfgs at once (each waits for a majority).
func startNodes(tb testing.TB, cfgs []Config) []*Node {
	tb.Helper()
	return testkit.StartAll(tb, len(cfgs), func(i int) (*Node, error) { return Start(context.Background(), cfgs[i]) })
}

// adminConn dials n's proxy and returns a context carrying the default
// admin's token for it.
func adminConn(tb testing.TB, n *Node) (*grpc.ClientConn, context.Context) {
	tb.Helper()
	conn := testkit.Dial(tb, n.ProxyAddr())
	rsp, err := authpb.NewAuthClient(conn).Token(context.Background(), &authpb.TokenRequest{Id: "admin", Secret: "micro",
		Options: &authpb.Options{Namespace: "micro"}})
	if err != nil {
		tb.Fatal(err)
	}
	return conn, grpcmd.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+rsp.GetToken().GetAccessToken())
}

func benchParallel(b *testing.B, op func(i int64) error) {
	var seq atomic.Int64
	b.SetParallelism(8) // 8 callers per GOMAXPROCS: 16 on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkCluster runs the same writes and publishes on the appliance
// and on a node of a three-node cluster.
func BenchmarkCluster(b *testing.B) {
	dir := b.TempDir()
	appliance := startNodes(b, []Config{{Data: filepath.Join(dir, "appliance.db"), GatewayAddress: "127.0.0.1:0",
		ProxyAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}})[0]
	defer appliance.Close()
	nodes := startNodes(b, clusterConfigs(b, dir, 3))
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for _, target := range []struct {
		name string
		node *Node
	}{{"appliance", appliance}, {"cluster", nodes[0]}} {
		conn, ctx := adminConn(b, target.node)
		st := storepb.NewStoreClient(conn)
		ev := eventspb.NewStreamClient(conn)
		b.Run("store-write/"+target.name, func(b *testing.B) {
			benchParallel(b, func(i int64) error {
				key := fmt.Sprintf("k%d", i)
				_, err := st.Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: key, Value: []byte("value of " + key)}})
				return err
			})
		})
		b.Run("events-publish/"+target.name, func(b *testing.B) {
			benchParallel(b, func(i int64) error {
				_, err := ev.Publish(ctx, &eventspb.PublishRequest{Topic: "bench", Payload: []byte("event")})
				return err
			})
		})
		conn.Close()
	}
}

// BenchmarkClusterCatchUp stops one node of three, writes 100k records
// through another, starts the stopped node again and reports how long it
// took from its start (Start returning) to its copy of the store being
// current with the leader's. It takes minutes, so make bench skips it:
//
//	MICRO_BENCH_CATCHUP=1 go test -run '^$' -bench ClusterCatchUp -benchtime 1x ./node/
func BenchmarkClusterCatchUp(b *testing.B) {
	if os.Getenv("MICRO_BENCH_CATCHUP") == "" {
		b.Skip("set MICRO_BENCH_CATCHUP=1 to time a node catching up after 100k writes (minutes)")
	}
	const writes = 100_000
	for range b.N {
		dir := b.TempDir()
		cfgs := clusterConfigs(b, dir, 3)
		nodes := startNodes(b, cfgs)
		conn, ctx := adminConn(b, nodes[0])
		st := storepb.NewStoreClient(conn)
		if _, err := st.Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: "first", Value: []byte("x")}}); err != nil {
			b.Fatal(err)
		}
		nodes[2].Close()

		start := time.Now()
		var seq atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := seq.Add(1)
					if i > writes {
						return
					}
					key := fmt.Sprintf("k%06d", i)
					if _, err := st.Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: key, Value: []byte("value of " + key)}}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		writing := time.Since(start)
		conn.Close()

		restart := time.Now()
		back, err := Start(context.Background(), cfgs[2])
		if err != nil {
			b.Fatal(err)
		}
		started := time.Since(restart)
		// Current: the leader reports its copy of the store's stream with
		// no lag.
		for {
			st, err := nodes[0].cluster.Status(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if current(st, "KV_micro_store", back.id) {
				break
			}
			if time.Since(restart) > 10*time.Minute {
				b.Fatal("the restarted node did not catch up in 10 minutes")
			}
			time.Sleep(50 * time.Millisecond)
		}
		caughtUp := time.Since(restart)
		b.ReportMetric(float64(writes)/writing.Seconds(), "writes/s")
		b.ReportMetric(started.Seconds(), "start-s")
		b.ReportMetric(caughtUp.Seconds(), "catchup-s")
		back.Close()
		nodes[0].Close()
		nodes[1].Close()
	}
}

// current reports whether node's copy of stream is current with no lag.
func current(st *cluster.Status, stream, node string) bool {
	for _, s := range st.Streams {
		if s.Name != stream {
			continue
		}
		if s.Leader == node {
			return true
		}
		for _, r := range s.Replicas {
			if r.Name == node {
				return r.Online && r.Current && r.Lag == 0
			}
		}
	}
	return false
}
