// Package tracing is how micro's parts (gateway, proxy, router, framework
// server and client) record spans: OpenTelemetry's API and SDK, W3C trace
// context carried in gRPC metadata (traceparent, tracestate), finished
// spans batched to a function that keeps them (the trace block's backend in
// the server, a Trace.Record call in a service).
//
// A part holds a trace.Tracer; nil means tracing is off, and the part then
// does no tracing work at all: no extraction, no span, no injection, so a
// call costs what it did before tracing existed.
package tracing

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	grpcmd "google.golang.org/grpc/metadata"

	fwerrors "micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/trace"
)

// Namespace is the span attribute naming the namespace a span belongs to
// (who may read it); the server's exporter files the span under it.
const Namespace = "micro.namespace"

// Service is the service a span's Trace block row names: the span's own
// attribute when it has one (the server records for gateway, proxy and
// router), else the provider's service.name.
const Service = "micro.service"

// propagator is W3C trace context: traceparent and tracestate.
var propagator = propagation.TraceContext{}

// mdCarrier lets the propagator read and write gRPC metadata.
type mdCarrier grpcmd.MD

func (c mdCarrier) Get(key string) string {
	if v := grpcmd.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(key, value string) { grpcmd.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Incoming returns ctx with the remote span context a caller sent in its
// gRPC metadata (a valid traceparent), if any.
func Incoming(ctx context.Context) context.Context {
	md, _ := grpcmd.FromIncomingContext(ctx)
	return propagator.Extract(ctx, mdCarrier(md))
}

// FromHeader returns ctx with the remote span context an HTTP caller sent
// (a valid traceparent header), if any.
func FromHeader(ctx context.Context, h propagation.HeaderCarrier) context.Context {
	return propagator.Extract(ctx, h)
}

// ToHeader writes ctx's span into HTTP headers as a traceparent.
func ToHeader(ctx context.Context, h propagation.HeaderCarrier) {
	propagator.Inject(ctx, h)
}

// Outgoing returns ctx whose outgoing gRPC metadata carries ctx's span as
// the callee's parent, replacing any traceparent already there.
func Outgoing(ctx context.Context) context.Context {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ctx
	}
	md, _ := grpcmd.FromOutgoingContext(ctx) // a copy, ours to change
	if md == nil {
		md = grpcmd.MD{}
	}
	Inject(ctx, md)
	return grpcmd.NewOutgoingContext(ctx, md)
}

// Inject writes the span context of ctx (traceparent, tracestate) into md,
// for a caller building its outgoing metadata itself: Outgoing without the
// copy of what ctx already carries.
func Inject(ctx context.Context, md grpcmd.MD) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		propagator.Inject(ctx, mdCarrier(md))
	}
}

// End sets the span's status from err and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, fwerrors.FromError(err, "").Detail)
	}
	span.End()
}

type suppressKey struct{}

// Suppress marks ctx so that calls made with it are not traced: the
// exporter's own Record calls, which would otherwise make spans of their
// own forever.
func Suppress(ctx context.Context) context.Context {
	return context.WithValue(ctx, suppressKey{}, true)
}

// Suppressed reports a ctx marked by Suppress.
func Suppressed(ctx context.Context) bool { return ctx.Value(suppressKey{}) != nil }

// Export keeps a batch of finished spans, grouped by namespace ("" when the
// span did not say: the keeper's own).
type Export func(ctx context.Context, ns string, spans []*pb.Span) error

// Options configure a Provider.
type Options struct {
	// Service names the spans' recorder (resource service.name).
	Service string
	// Export keeps finished spans; nil keeps none (OTLP alone, say).
	Export Export
	// Extra are more exporters (OTLP to a collector), each batched.
	Extra []sdktrace.SpanExporter
}

// NewProvider returns an SDK tracer provider, whose new traces get
// time-ordered ids (ids.go), sampling every trace that
// starts here or was sampled by the caller, whose finished spans go in
// bounded batches to o.Export and o.Extra. Shut it down to flush.
func NewProvider(o Options) *sdktrace.TracerProvider {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", o.Service))),
		sdktrace.WithIDGenerator(timeOrderedIDs{}), // ids.go
	}
	if o.Export != nil {
		opts = append(opts, sdktrace.WithBatcher(&exporter{service: o.Service, export: o.Export},
			sdktrace.WithBatchTimeout(time.Second), sdktrace.WithMaxQueueSize(4096), sdktrace.WithMaxExportBatchSize(MaxBatch)))
	}
	for _, e := range o.Extra {
		opts = append(opts, sdktrace.WithBatcher(e))
	}
	return sdktrace.NewTracerProvider(opts...)
}

// MaxBatch is the most spans one Record carries.
const MaxBatch = 512

// exporter turns SDK spans into the trace block's and hands them on.
type exporter struct {
	service string
	export  Export
}

func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	byNS := map[string][]*pb.Span{}
	for _, s := range spans {
		p, ns := ToProto(s, e.service)
		byNS[ns] = append(byNS[ns], p)
	}
	var errs []error
	for ns, batch := range byNS {
		errs = append(errs, e.export(Suppress(ctx), ns, batch))
	}
	return errors.Join(errs...)
}

func (e *exporter) Shutdown(context.Context) error { return nil }

// ToProto converts a finished span, and says its namespace.
func ToProto(s sdktrace.ReadOnlySpan, service string) (*pb.Span, string) {
	p := &pb.Span{
		TraceId: s.SpanContext().TraceID().String(),
		SpanId:  s.SpanContext().SpanID().String(),
		Service: service,
		Name:    s.Name(),
		Kind:    s.SpanKind().String(),
		Start:   s.StartTime().UnixNano(),
		End:     s.EndTime().UnixNano(),
	}
	if s.Parent().IsValid() {
		p.ParentId = s.Parent().SpanID().String()
	}
	if st := s.Status(); st.Code == codes.Error {
		p.Failed, p.Error = true, st.Description
	}
	var ns string
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case Namespace:
			ns = kv.Value.AsString()
		case Service:
			p.Service = kv.Value.AsString()
		default:
			if p.Attributes == nil {
				p.Attributes = map[string]string{}
			}
			p.Attributes[string(kv.Key)] = kv.Value.Emit()
		}
	}
	return p, ns
}

// Unsampled returns ctx carrying a new trace whose sampled flag is off, so
// that a call made with it is recorded nowhere: every sampler here is
// parent-based, and the callee reads the flag from the traceparent the
// caller sends. The framework's own background calls (registry heartbeats,
// token exchanges, key fetches, lease renewals) use it, which would
// otherwise each start a trace of their own at the proxy and bury the
// users' calls in `micro traces`.
func Unsampled(ctx context.Context) context.Context {
	var sc trace.SpanContextConfig
	rand.Read(sc.TraceID[:])
	rand.Read(sc.SpanID[:])
	sc.Remote = true
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(sc))
}

// Detach returns ctx without its span: calls made with it start a trace
// of their own (a scheduled job's run, under an unsampled campaign).
func Detach(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, trace.SpanContext{})
}
