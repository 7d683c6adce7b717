package server

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"micro.dev/micro/internal/tracing"
)

// SetTracer makes the server record a span of every call it serves, child
// of the caller's traceparent; call it before Serve. Without it the server
// does no tracing work.
func (s *GRPCServer) SetTracer(t trace.Tracer) {
	s.mu.Lock()
	s.tracer = t
	s.mu.Unlock()
}

func (s *GRPCServer) startSpan(ctx context.Context, method string) (context.Context, trace.Span) {
	return s.tracer.Start(tracing.Incoming(ctx), strings.TrimPrefix(method, "/"), trace.WithSpanKind(trace.SpanKindServer))
}

func (s *GRPCServer) traceUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if s.tracer == nil || strings.HasPrefix(info.FullMethod, "/grpc.") {
		return h(ctx, req)
	}
	ctx, span := s.startSpan(ctx, info.FullMethod)
	rsp, err := h(ctx, req)
	tracing.End(span, err)
	return rsp, err
}

func (s *GRPCServer) traceStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if s.tracer == nil || strings.HasPrefix(info.FullMethod, "/grpc.") {
		return h(srv, ss)
	}
	ctx, span := s.startSpan(ss.Context(), info.FullMethod)
	err := h(srv, tracedStream{ss, ctx})
	tracing.End(span, err)
	return err
}

// tracedStream is a server stream whose context carries its span.
type tracedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s tracedStream) Context() context.Context { return s.ctx }
