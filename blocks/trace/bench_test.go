package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"micro.dev/micro/internal/testkit"
	pb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

// BenchmarkRecord records spans as the node's exporter hands them over
// (batches of 512, a trace being a gateway, proxy, router and service span
// with random W3C ids), per span: into a table with room, and into one at
// its cap, where each batch also deletes as many of the oldest.
func BenchmarkRecord(b *testing.B) {
	for _, tc := range []struct {
		name string
		max  int
	}{{"room", 0}, {"at-cap", 20000}} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := schema.Open(context.Background(), filepath.Join(b.TempDir(), "micro.db"),
				schema.Options{Migrations: []schema.Migrations{Migrations}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			tr := New(db, nil, WithMaxSpans(tc.max))
			ctx := context.Background()
			batch := func() []*pb.Span {
				spans := make([]*pb.Span, 0, 512)
				for len(spans) < cap(spans) {
					trace, parent := randomHex(16), ""
					for _, service := range []string{"gateway", "proxy", "router", "helloworld"} {
						id := randomHex(8)
						spans = append(spans, &pb.Span{TraceId: trace, SpanId: id, ParentId: parent, Service: service,
							Name: "helloworld.Helloworld/Call", Kind: "server", Start: 1e18, End: 1e18 + 1e5,
							Attributes: map[string]string{"http.status_code": "200"}})
						parent = id
					}
				}
				return spans
			}
			if tc.max > 0 { // fill to the cap first
				for range tc.max / 512 {
					if err := tr.Keep(ctx, "micro", batch()); err != nil {
						b.Fatal(err)
					}
				}
			}
			batches := make([][]*pb.Span, 16)
			for i := range batches {
				batches[i] = batch()
			}
			b.ResetTimer()
			defer testkit.CPUPerOp(b)()
			spans := 0
			for i := 0; b.Loop(); i++ {
				s := batches[i%len(batches)]
				if err := tr.Keep(ctx, "micro", s); err != nil {
					b.Fatal(err)
				}
				spans += len(s)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
		})
	}
}

func randomHex(n int) string {
	buf := make([]byte, n)
	rand.Read(buf)
	return hex.EncodeToString(buf)
}
