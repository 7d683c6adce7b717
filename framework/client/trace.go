package client

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"micro.dev/micro/internal/tracing"
)

// startSpan starts a call's client span, when the client traces and ctx
// is not the exporter's own, and makes it the callee's parent; end is nil
// when nothing was started. A client that does not trace still passes on
// the span ctx carries (none, or tracing.Unsampled's), so the framework's
// own unsampled calls stay unrecorded downstream.
func (c *GRPCClient) startSpan(ctx context.Context, req Request) (context.Context, func(error)) {
	if tracing.Suppressed(ctx) {
		return ctx, nil
	}
	if c.opts.Tracer == nil {
		return tracing.Outgoing(ctx), nil
	}
	ctx, span := c.opts.Tracer.Start(ctx, req.Service()+"/"+req.Endpoint(), trace.WithSpanKind(trace.SpanKindClient))
	return tracing.Outgoing(ctx), func(err error) { tracing.End(span, err) }
}

// startStreamSpan starts a stream's client span like startSpan; span is
// nil when nothing was started. The caller ends it if opening fails, else
// hands it to tracing.ClientStream to end with the stream.
func (c *GRPCClient) startStreamSpan(ctx context.Context, req Request) (context.Context, trace.Span) {
	if tracing.Suppressed(ctx) {
		return ctx, nil
	}
	if c.opts.Tracer == nil {
		return tracing.Outgoing(ctx), nil
	}
	ctx, span := c.opts.Tracer.Start(ctx, req.Service()+"/"+req.Endpoint(), trace.WithSpanKind(trace.SpanKindClient))
	return tracing.Outgoing(ctx), span
}
