package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	authpb "micro.dev/micro/proto/auth"
	pb "micro.dev/micro/proto/events"
)

var payload = make([]byte, 100)

// BenchmarkPublish publishes 100-byte events from 16 callers, each
// answered once the event is stored: through the node's proxy (an admin's
// token checked per call; the answer comes after the commit, with
// synchronous=FULL), and to NATS JetStream embedded (file storage, a
// synchronous publish waiting for the stream's ack) as NATS ships it,
// which syncs its files every two minutes, and with sync_always, which
// syncs before every ack as micro does. Through the proxy it also reports
// the group commit's batch (writes/commit), the fsyncs per event
// (commits/op) and the process's collections per event (gcs/op).
func BenchmarkPublish(b *testing.B) {
	suffix := fmt.Sprintf("-%d", callers)
	b.Run("proxy"+suffix, func(b *testing.B) {
		ctx, stream, writes := eventsClientWrites(b)
		writes0, commits0 := writes()
		gcs0 := numGC()
		run(b, true, func() error {
			_, err := stream.Publish(ctx, &pb.PublishRequest{Topic: "bench", Payload: payload})
			return err
		})
		b.StopTimer()
		writes1, commits1 := writes()
		if commits1 > commits0 {
			b.ReportMetric((writes1-writes0)/(commits1-commits0), "writes/commit")
			b.ReportMetric((commits1-commits0)/float64(b.N), "commits/op")
		}
		b.ReportMetric(float64(numGC()-gcs0)/float64(b.N), "gcs/op")
	})
	for _, syncAlways := range []bool{false, true} {
		name := "jetstream"
		if syncAlways {
			name += "-syncalways"
		}
		b.Run(name+suffix, func(b *testing.B) {
			js := jetStream(b, syncAlways)
			run(b, true, func() error {
				_, err := js.Publish(context.Background(), "bench.events", payload)
				return err
			})
		})
	}
}

// numGC is how many collections the process has completed: the node's
// and the callers', which share it.
func numGC() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}

// consumeBatch is how many events one op of BenchmarkConsume receives, so
// that a consumer's start (a durable group created and loaded) weighs
// little in the time of one op.
const consumeBatch = 1000

// BenchmarkConsume receives stored events, consumeBatch per op, on one
// consumer that acks each: a durable group on a Consume stream through the
// node's proxy, and a durable JetStream pull consumer with explicit acks.
// Storing them first is not timed.
func BenchmarkConsume(b *testing.B) {
	b.Run("proxy", func(b *testing.B) {
		ctx, stream := eventsClient(b)
		fill(b, b.N*consumeBatch, func() error {
			_, err := stream.Publish(ctx, &pb.PublishRequest{Topic: "bench", Payload: payload})
			return err
		})
		b.ResetTimer()
		defer testkit.CPUPerOp(b)()
		cons, err := stream.Consume(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := cons.Send(&pb.ConsumeRequest{Topic: "bench", Group: "g", AckWait: int64(time.Minute), RetryLimit: -1}); err != nil {
			b.Fatal(err)
		}
		for range b.N * consumeBatch {
			ev, err := cons.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if err := cons.Send(&pb.ConsumeRequest{Ack: &pb.AckRequest{Id: ev.Id, Success: true}}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*consumeBatch)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("jetstream", func(b *testing.B) {
		js := jetStream(b, false)
		fill(b, b.N*consumeBatch, func() error {
			_, err := js.Publish(context.Background(), "bench.events", payload)
			return err
		})
		b.ResetTimer()
		defer testkit.CPUPerOp(b)()
		cons, err := js.CreateOrUpdateConsumer(context.Background(), "BENCH", jetstream.ConsumerConfig{
			Durable: "g", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		msgs, err := cons.Messages()
		if err != nil {
			b.Fatal(err)
		}
		defer msgs.Stop()
		for range b.N * consumeBatch {
			msg, err := msgs.Next()
			if err != nil {
				b.Fatal(err)
			}
			if err := msg.Ack(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*consumeBatch)/b.Elapsed().Seconds(), "events/s")
	})
}

// fill stores n events with callers publishing at once.
func fill(b *testing.B, n int, publish func() error) {
	var left atomic.Int64
	left.Store(int64(n))
	errs := make(chan error, callers)
	for range callers {
		go func() {
			for left.Add(-1) >= 0 {
				if err := publish(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// eventsClient is the events block's Stream client through a new node's
// proxy, and a context carrying the admin's token.
func eventsClient(b *testing.B) (context.Context, pb.StreamClient) {
	ctx, stream, _ := eventsClientWrites(b)
	return ctx, stream
}

// eventsClientWrites is eventsClient with a function reading the node's
// database writer counters from GET /metrics: the writes it has run and
// the transactions it committed them in (one fsync each).
func eventsClientWrites(b *testing.B) (context.Context, pb.StreamClient, func() (writes, commits float64)) {
	n := startNode(b)
	conn := testkit.Dial(b, n.ProxyAddr())
	tok, err := authpb.NewAuthClient(conn).Token(context.Background(), &authpb.TokenRequest{Id: "admin", Secret: "micro"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.Set(context.Background(), metadata.Authorization, "Bearer "+tok.GetToken().GetAccessToken())
	writes := func() (writes, commits float64) {
		req, err := http.NewRequest(http.MethodGet, "http://"+n.GatewayAddr()+"/metrics", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.GetToken().GetAccessToken())
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		text, err := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if err != nil || rsp.StatusCode != http.StatusOK {
			b.Fatalf("GET /metrics: %s %v", rsp.Status, err)
		}
		series := func(name string) float64 {
			for _, l := range strings.Split(string(text), "\n") {
				if v, ok := strings.CutPrefix(l, name+" "); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						return f
					}
				}
			}
			b.Fatalf("GET /metrics has no %s", name)
			return 0
		}
		return series("micro_db_write_batch_size_sum"), series(`micro_db_write_transactions_total{result="commit"}`)
	}
	return ctx, pb.NewStreamClient(grpc.ClientConnInterface(conn)), writes
}

// jetStream starts an embedded NATS server with JetStream on a loopback
// port, storing in b's temp dir, with a file-backed stream BENCH on
// bench.>; both stop with b.
func jetStream(b *testing.B, syncAlways bool) jetstream.JetStream {
	b.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(b.TempDir(), "jetstream"), SyncAlways: syncAlways, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	b.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(30 * time.Second) {
		b.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"},
		Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	return js
}
