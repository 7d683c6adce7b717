package node

import (
	"context"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	traceblock "micro.dev/micro/blocks/trace"
	"micro.dev/micro/internal/tracing"
	pb "micro.dev/micro/proto/trace"
)

// tracingParts is what the node traces with: nil tracer when tracing is
// off, so the gateway, proxy and router take their untraced path.
type tracingParts struct {
	tracer   trace.Tracer
	provider *sdktrace.TracerProvider
}

// traceBlock is the span block as the node runs it: closing it first
// flushes the spans still batched, while the database is open.
type traceBlock struct {
	*traceblock.Trace
	provider *sdktrace.TracerProvider
}

func (b traceBlock) Close() error {
	if b.provider != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.provider.Shutdown(ctx)
	}
	return b.Trace.Close()
}

// newTrace builds the span block and, with Config.Trace, the tracer the
// gateway, proxy and router record with, whose spans go to the block.
func (n *Node) newTrace(cfg Config) (block, error) {
	blk := traceblock.New(n.db, n.authz, traceblock.WithLogger(n.log), traceblock.WithMaxSpans(cfg.TraceSpans))
	if !cfg.Trace {
		return traceBlock{Trace: blk}, nil
	}
	extra, err := otlpExporters(cfg) // otlp.go
	if err != nil {
		return nil, err
	}
	n.provider = tracing.NewProvider(tracing.Options{
		Service: "micro",
		Export: func(ctx context.Context, ns string, spans []*pb.Span) error {
			return blk.Keep(ctx, ns, spans)
		},
		Extra: extra,
	})
	n.tracer = n.provider.Tracer("micro")
	n.proxy.SetTracer(n.tracer)
	return traceBlock{Trace: blk, provider: n.provider}, nil
}
