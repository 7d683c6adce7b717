package cli

import (
	"bytes"
	"strings"
	"testing"

	pb "micro.dev/micro/proto/trace"
)

// TestWaterfall prints a trace as a tree: children under their parent,
// indented, by start, with offsets, durations and errors.
func TestWaterfall(t *testing.T) {
	const ms = int64(1e6)
	id := "4bf92f3577b34da6a3ce929d0e0e4736"
	spans := []*pb.Span{
		{TraceId: id, SpanId: "b", ParentId: "a", Service: "alpha", Name: "alpha.Alpha/Call", Start: 1 * ms, End: 9 * ms},
		{TraceId: id, SpanId: "a", ParentId: "00f067aa0ba902b7", Service: "gateway", Name: "POST /alpha/Alpha/Call", Start: 0, End: 10 * ms},
		{TraceId: id, SpanId: "c", ParentId: "b", Service: "store", Name: "store.Store/Write", Start: 2 * ms, End: 4 * ms, Failed: true, Error: "disk full"},
	}
	var buf bytes.Buffer
	waterfall(&buf, spans)
	got := buf.String()
	t.Log("\n" + got)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "trace "+id+": 3 spans, 10.0ms") {
		t.Fatalf("got\n%s", got)
	}
	for i, want := range []string{"  POST /alpha/Alpha/Call [gateway]", "    alpha.Alpha/Call [alpha]", "      store.Store/Write [store]  error: disk full"} {
		if !strings.HasSuffix(lines[i+2], want) || !strings.Contains(lines[i+2], "█") {
			t.Errorf("line %d: %q, want it to end %q", i+2, lines[i+2], want)
		}
	}
	if !strings.HasPrefix(lines[4], "2.0ms  2.0ms") {
		t.Errorf("store line %q: want its offset and duration", lines[4])
	}
}
