package proxy

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/blocks/auth"
	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/internal/tracing"
	authpb "micro.dev/micro/proto/auth"
	tracepb "micro.dev/micro/proto/trace"
	"micro.dev/micro/schema"
)

// BenchmarkAuthOverhead calls a trivial endpoint through the proxy over
// loopback: without auth (the baseline), then with the auth block checking
// an admin's token against the rules on every call. Compare the ns/op.
func BenchmarkAuthOverhead(b *testing.B) {
	db, err := schema.Open(context.Background(), filepath.Join(b.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{auth.Migrations}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	a := auth.New(db, fauth.Namespaces, auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer a.Close()

	serve := func(b *testing.B, cfg Config) *grpc.ClientConn {
		p := New(cfg)
		p.Server().RegisterService(&testkit.EchoService, struct{}{})
		a.Register(p.Server())
		lis := testkit.Listen(b)
		go p.Serve(lis)
		b.Cleanup(func() { p.Stop(time.Second) })
		conn := testkit.Dial(b, lis.Addr().String())
		return conn
	}
	run := func(b *testing.B, conn *grpc.ClientConn, ctx context.Context) {
		req := &codec.Frame{Data: []byte(`{"a":1}`)}
		b.ResetTimer()
		for b.Loop() {
			var out codec.Frame
			if err := conn.Invoke(ctx, "/echo.Echo/Call", req, &out, grpc.CallContentSubtype(codec.JSON)); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("baseline-no-auth", func(b *testing.B) {
		run(b, serve(b, Config{}), context.Background())
	})
	b.Run("auth-admin-token", func(b *testing.B) {
		conn := serve(b, Config{Auth: a})
		rsp, err := authpb.NewAuthClient(conn).Token(context.Background(), &authpb.TokenRequest{Id: "admin", Secret: "micro"})
		if err != nil {
			b.Fatal(err)
		}
		ctx := grpcmd.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+rsp.Token.AccessToken)
		run(b, conn, ctx)
	})
	b.Run("auth-anonymous", func(b *testing.B) {
		run(b, serve(b, Config{Auth: a}), context.Background())
	})
}

// BenchmarkTracing calls a trivial endpoint through the proxy over
// loopback with tracing off (the baseline: no tracer, the untraced path),
// then on: a span per call, child of the caller's traceparent, batched to
// an exporter that drops it (the keeping is the trace block's cost, not
// the call's).
func BenchmarkTracing(b *testing.B) {
	serve := func(b *testing.B, tracer trace.Tracer) *grpc.ClientConn {
		p := New(Config{})
		if tracer != nil {
			p.SetTracer(tracer)
		}
		p.Server().RegisterService(&testkit.EchoService, struct{}{})
		lis := testkit.Listen(b)
		go p.Serve(lis)
		b.Cleanup(func() { p.Stop(time.Second) })
		return testkit.Dial(b, lis.Addr().String())
	}
	run := func(b *testing.B, conn *grpc.ClientConn) {
		ctx := grpcmd.AppendToOutgoingContext(context.Background(), "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		req := &codec.Frame{Data: []byte(`{"a":1}`)}
		for b.Loop() {
			var out codec.Frame
			if err := conn.Invoke(ctx, "/echo.Echo/Call", req, &out, grpc.CallContentSubtype(codec.JSON)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, serve(b, nil)) })
	b.Run("on", func(b *testing.B) {
		tp := tracing.NewProvider(tracing.Options{Service: "bench",
			Export: func(context.Context, string, []*tracepb.Span) error { return nil }})
		defer tp.Shutdown(context.Background())
		run(b, serve(b, tp.Tracer("bench")))
	})
}
