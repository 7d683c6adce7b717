package tracing

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	pb "micro.dev/micro/proto/trace"
)

// TestTraceIDsBeginWithTheTime: the traces a provider starts have ids that
// begin with their start in Unix milliseconds, so they sort by start; the
// rest of each id, and the span ids, differ.
func TestTraceIDsBeginWithTheTime(t *testing.T) {
	got := make(chan []*pb.Span, 16)
	p := NewProvider(Options{Service: "test", Export: func(_ context.Context, _ string, spans []*pb.Span) error {
		got <- spans
		return nil
	}})
	tracer := p.Tracer("test")
	before := time.Now().UnixMilli()
	var started []string
	for i := range 20 {
		ctx, span := tracer.Start(context.Background(), "op")
		_, child := tracer.Start(ctx, "child")
		child.End()
		span.End()
		started = append(started, span.SpanContext().TraceID().String())
		if i%5 == 4 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	after := time.Now().UnixMilli()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(got)

	seen := map[string]bool{}
	for i, id := range started {
		tid, err := trace.TraceIDFromHex(id)
		if err != nil {
			t.Fatal(err)
		}
		var ms [8]byte
		copy(ms[2:], tid[:6])
		at := int64(binary.BigEndian.Uint64(ms[:]))
		if at < before || at > after {
			t.Fatalf("trace %d: id %s begins with %d, not a millisecond in [%d, %d]", i, id, at, before, after)
		}
		if seen[id[12:]] {
			t.Fatalf("trace %d: the random part of %s repeats", i, id)
		}
		seen[id[12:]] = true
	}
	if !sortedByPrefix(started) {
		t.Fatalf("trace ids started one after another do not sort by their start: %v", started)
	}
	spans := map[string]bool{}
	for batch := range got {
		for _, s := range batch {
			if spans[s.SpanId] || s.SpanId == "0000000000000000" {
				t.Fatalf("span id %s repeats or is zero", s.SpanId)
			}
			spans[s.SpanId] = true
		}
	}
	if len(spans) != 40 {
		t.Fatalf("%d spans exported, want 40", len(spans))
	}
}

// sortedByPrefix reports ids whose time prefixes (12 hex digits) never go
// back: ids of the same millisecond may be in any order.
func sortedByPrefix(ids []string) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i][:12] < ids[i-1][:12] {
			return false
		}
	}
	return true
}
