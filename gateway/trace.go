package gateway

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"micro.dev/micro/internal/tracing"
)

// serveTraced serves a call inside the gateway's span when Config.Tracer is
// set: child of the caller's traceparent header when it is valid, else a
// new trace. The answer's traceparent header names the span, so a caller
// can look the trace up (micro trace <id>).
func (g *Gateway) serveTraced(rec *recorder, r *http.Request) {
	if g.cfg.Tracer == nil {
		g.serveCall(rec, r)
		return
	}
	ctx := tracing.FromHeader(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := g.cfg.Tracer.Start(ctx, r.Method+" "+r.URL.Path,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String(tracing.Service, "gateway")))
	tracing.ToHeader(ctx, propagation.HeaderCarrier(rec.Header()))
	g.serveCall(rec, r.WithContext(ctx))

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	span.SetAttributes(attribute.Int("http.status_code", status))
	if info := InfoFrom(r.Context()); info != nil {
		span.SetAttributes(attribute.String(tracing.Namespace, info.Namespace))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status)+" "+http.StatusText(status))
	}
	span.End()
}
