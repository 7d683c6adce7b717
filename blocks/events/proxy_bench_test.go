package events_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/node/nodetest"
	authpb "micro.dev/micro/proto/auth"
	pb "micro.dev/micro/proto/events"
)

// BenchmarkViaProxy is what a client of a running server sees: a whole node
// on a temp file, events published over TCP loopback to its proxy from many
// goroutines, then consumed back through the proxy on one stream. It
// reports both rates; compare them with BenchmarkRawSQLiteInsert and
// BenchmarkRawSQLiteRead of this package, run beside it.
func BenchmarkViaProxy(b *testing.B) {
	s := nodetest.Start(b)
	conn := testkit.Dial(b, s.Proxy())
	tok, err := authpb.NewAuthClient(conn).Token(context.Background(), &authpb.TokenRequest{Id: "admin", Secret: "micro"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.Set(b.Context(), metadata.Authorization, "Bearer "+tok.GetToken().GetAccessToken())
	stream := pb.NewStreamClient(conn)
	payload := make([]byte, 100)

	var published atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			if _, err := stream.Publish(ctx, &pb.PublishRequest{Topic: "bench", Payload: payload}); err != nil {
				b.Error(err)
				return
			}
			published.Add(1)
		}
	})
	publishTime := time.Since(start)

	start = time.Now()
	cons, err := stream.Consume(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := cons.Send(&pb.ConsumeRequest{Topic: "bench", AutoAck: true}); err != nil {
		b.Fatal(err)
	}
	for n := int64(0); n < published.Load(); n++ {
		if _, err := cons.Recv(); err != nil {
			b.Fatal(err)
		}
	}
	consumeTime := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(published.Load())/publishTime.Seconds(), "published/s")
	b.ReportMetric(float64(published.Load())/consumeTime.Seconds(), "consumed/s")
}
