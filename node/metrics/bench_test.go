package metrics

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/proxy"
)

// BenchmarkProxyObserver calls a trivial endpoint through the proxy over
// loopback without an Observer (the baseline), then with the metrics
// counting every call. Compare the ns/op.
func BenchmarkProxyObserver(b *testing.B) {
	serve := func(b *testing.B, cfg proxy.Config) *grpc.ClientConn {
		cfg.Logger = quiet
		p := proxy.New(cfg)
		p.Server().RegisterService(&testkit.EchoService, struct{}{})
		lis := testkit.Listen(b)
		go p.Serve(lis)
		b.Cleanup(func() { p.Stop(time.Second) })
		conn := testkit.Dial(b, lis.Addr().String())
		return conn
	}
	run := func(b *testing.B, conn *grpc.ClientConn) {
		req := &codec.Frame{Data: []byte(`{"a":1}`)}
		b.ResetTimer()
		for b.Loop() {
			var out codec.Frame
			if err := conn.Invoke(context.Background(), "/echo.Echo/Call", req, &out, grpc.CallContentSubtype(codec.JSON)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("baseline-no-observer", func(b *testing.B) { run(b, serve(b, proxy.Config{})) })
	b.Run("metrics-observer", func(b *testing.B) { run(b, serve(b, proxy.Config{Observer: New("bench", quiet)})) })
}

// BenchmarkCallEnded is the metrics' own cost per call.
func BenchmarkCallEnded(b *testing.B) {
	m := New("bench", quiet)
	c := &proxy.Call{Service: "store", Endpoint: "Store.Read", Known: true, Duration: time.Millisecond}
	for b.Loop() {
		m.CallStarted(c)
		m.CallEnded(c)
	}
}
