package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// timeOrderedIDs gives new traces ids that begin with the time: 48 bits of
// Unix milliseconds, big-endian (as a UUIDv7 does, and as AWS X-Ray's trace
// ids begin with the second), then 80 random bits, so the rightmost 7 bytes
// W3C trace context asks to be random are. The trace block indexes spans by
// (namespace, trace id): with random ids each span of a batch landed on its
// own page of that index, written out on every commit, the greater part of
// storing a span; time-ordered ids append. Span ids stay wholly random.
type timeOrderedIDs struct{}

func (timeOrderedIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	return newTraceID(time.Now()), newSpanID()
}

func (timeOrderedIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	return newSpanID()
}

func newTraceID(now time.Time) trace.TraceID {
	var id trace.TraceID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	copy(id[:6], ms[2:])
	binary.BigEndian.PutUint16(id[6:8], uint16(rand.Uint32()))
	binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() { // all zeros is no span id
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}
