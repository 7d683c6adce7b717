package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/logger"
	"micro.dev/micro/internal/tracing"
	pb "micro.dev/micro/proto/trace"
)

// newTracer returns the tracer of a service with Options.Trace: its spans
// go in batches to the server's trace block (Trace.Record, in the
// service's namespace) through the client *c points to once it exists.
func (s *Service) newTracer(o Options, c **client.GRPCClient) trace.Tracer {
	logHook.Do(func() { logger.AddContextAttrs(traceAttrs) })
	s.provider = tracing.NewProvider(tracing.Options{
		Service: o.Name,
		Export: func(ctx context.Context, _ string, spans []*pb.Span) error {
			if *c == nil {
				return nil
			}
			return (*c).Conn().Invoke(ctx, "/trace.Trace/Record",
				&pb.RecordRequest{Namespace: o.Namespace, Spans: spans}, new(pb.RecordResponse))
		},
	})
	return s.provider.Tracer("micro.dev/micro/framework")
}

// stopTracing sends the spans still batched, then stops the provider.
func (s *Service) stopTracing() {
	if s.provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.provider.Shutdown(ctx); err != nil {
		s.log.Warn("Sending the last spans failed", "service", s.opts.Name, "err", err)
	}
	s.provider = nil
}

var logHook sync.Once

// traceAttrs puts the trace id on lines logged with a traced context.
func traceAttrs(ctx context.Context) []slog.Attr {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []slog.Attr{slog.String("trace", sc.TraceID().String())}
}
