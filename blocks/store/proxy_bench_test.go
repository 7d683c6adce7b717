package store_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/node"
	authpb "micro.dev/micro/proto/auth"
	pb "micro.dev/micro/proto/store"
)

// BenchmarkWriteViaProxy is what a client of a running server sees: a whole
// node (gateway, proxy and every block) on a temp file, and Store.Write over
// TCP loopback to its gRPC proxy from many goroutines. Compare it with
// BenchmarkRawSQLiteInsert in the same run.
func BenchmarkWriteViaProxy(b *testing.B) {
	n, err := node.Start(context.Background(), node.Config{
		Data:           filepath.Join(b.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0",
		ProxyAddress:   "127.0.0.1:0",
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	conn := testkit.Dial(b, n.ProxyAddr())
	tok, err := authpb.NewAuthClient(conn).Token(context.Background(), &authpb.TokenRequest{Id: "admin", Secret: "micro"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.Set(b.Context(), metadata.Authorization, "Bearer "+tok.GetToken().GetAccessToken())
	client := pb.NewStoreClient(conn)
	value := make([]byte, 100)

	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			key := "bench/" + strconv.FormatInt(seq.Add(1), 10)
			if _, err := client.Write(ctx, &pb.WriteRequest{Record: &pb.Record{Key: key, Value: value}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
