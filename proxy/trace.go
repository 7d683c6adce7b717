package proxy

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/tracing"
)

// SetTracer makes the proxy record a span of every call it lets through
// (after auth: a refused caller leaves nothing in the database), child of
// the caller's traceparent when it sent a valid one. Call it before Serve;
// without it the proxy does no tracing work.
func (p *Proxy) SetTracer(t trace.Tracer) { p.tracer = t }

// untraced are calls the proxy keeps no span of: the spans themselves
// arriving (a span per batch of spans would never end) and health checks.
func untraced(method string) bool {
	return strings.HasPrefix(method, "/trace.Trace/") || strings.HasPrefix(method, "/grpc.health.")
}

func (p *Proxy) startSpan(ctx context.Context, method string) (context.Context, trace.Span) {
	return p.tracer.Start(tracing.Incoming(ctx), strings.TrimPrefix(method, "/"),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String(tracing.Service, "proxy"),
			attribute.String(tracing.Namespace, metadata.NamespaceFrom(ctx)),
		))
}

func (p *Proxy) traceUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if p.tracer == nil || untraced(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, span := p.startSpan(ctx, info.FullMethod)
	rsp, err := h(ctx, req)
	tracing.End(span, err)
	return rsp, err
}

func (p *Proxy) traceStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if p.tracer == nil || untraced(info.FullMethod) {
		return h(srv, ss)
	}
	ctx, span := p.startSpan(ss.Context(), info.FullMethod)
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
