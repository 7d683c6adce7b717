package node

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/server"
	"micro.dev/micro/internal/testkit"
	tracepb "micro.dev/micro/proto/trace"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// Delta streams count messages, then fails when count is negative.
type Delta struct {
	mu   sync.Mutex
	done time.Time // when the last handler call was about to return
}

func (d *Delta) Count(ctx context.Context, req *pb.StreamingRequest, st server.Stream) error {
	n := max(req.Count, 1)
	for i := range n {
		if err := st.Send(&pb.StreamingResponse{Count: i}); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.done = time.Now()
	d.mu.Unlock()
	if req.Count < 0 {
		return errors.BadRequest("delta", "count %d is negative", req.Count)
	}
	return nil
}

func (d *Delta) lastDone() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

// TestStreamSpansLastAsLongAsTheStream: a stream's spans, at the caller's
// client, the proxy, the router and the service, end when the stream does
// (after the handler returned), not when it opened, and carry how it
// ended: a handler's error fails every one of them.
func TestStreamSpansLastAsLongAsTheStream(t *testing.T) {
	n := startTracingNode(t, Config{})
	delta := new(Delta)
	startTraced(t, n, "delta", func(client.Client) any { return delta })

	// The caller's client records into memory.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c, err := client.New(client.Options{Proxy: n.ProxyAddr(), ID: "admin", Secret: "micro", Tracer: tp.Tracer("test")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	admin := adminTraceClient(t, n)

	// spansOf waits for the server's four spans of trace id.
	spansOf := func(id trace.TraceID) map[string]*tracepb.Span {
		want := []string{"proxy", "router", "delta"}
		got := map[string]*tracepb.Span{}
		testkit.Eventually(t, 20*time.Second, "the stream's spans kept", func() bool {
			r, err := admin.Read(context.Background(), &tracepb.ReadRequest{TraceId: id.String()})
			if err != nil {
				return false
			}
			for _, s := range r.GetSpans() {
				got[s.GetService()] = s
			}
			for _, w := range want {
				if got[w] == nil {
					return false
				}
			}
			return true
		})
		return got
	}
	for i, tc := range []struct {
		count int64
		fail  string
	}{{3, ""}, {-1, "count -1 is negative"}} {
		tid := trace.TraceID{0xab, byte(i + 1)}
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
		st, err := c.Stream(ctx, c.NewRequest("delta", "Delta.Count", &pb.StreamingRequest{Count: tc.count}))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&pb.StreamingRequest{Count: tc.count}); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		received := 0
		for {
			err = st.Recv(new(pb.StreamingResponse))
			if err != nil {
				break
			}
			received++
		}
		if (tc.fail == "") != (err == io.EOF) || received == 0 {
			t.Fatalf("count %d: %d messages, then %v", tc.count, received, err)
		}
		done := delta.lastDone()

		var clientSpan sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == tid {
				clientSpan = s
			}
		}
		if clientSpan == nil {
			t.Fatalf("count %d: the client's span did not end with the stream", tc.count)
		}
		if clientSpan.EndTime().Before(done) {
			t.Errorf("count %d: the client's span ended at %v, before the handler finished at %v", tc.count, clientSpan.EndTime(), done)
		}
		if failed := clientSpan.Status().Description; failed != tc.fail {
			t.Errorf("count %d: the client's span status %q, want %q", tc.count, failed, tc.fail)
		}
		for service, s := range spansOf(tid) {
			if end := time.Unix(0, s.GetEnd()); end.Before(done) {
				t.Errorf("count %d: the %s span %q ended at %v, before the handler finished at %v", tc.count, service, s.GetName(), end, done)
			}
			if s.GetError() != tc.fail || s.GetFailed() != (tc.fail != "") {
				t.Errorf("count %d: the %s span %q failed=%v %q, want %q", tc.count, service, s.GetName(), s.GetFailed(), s.GetError(), tc.fail)
			}
		}
	}

	// Through the gateway (a streamed HTTP answer) the gateway's span too
	// lasts until the stream ends.
	const traceID = "6bf92f3577b34da6a3ce929d0e0e4738"
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.GatewayAddr()+"/delta/Delta/Count", bytes.NewReader([]byte(`{"count":3}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-20f067aa0ba902b9-01")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !bytes.Contains(body, []byte(`"count":"2"`)) {
		t.Fatalf("streaming through the gateway: %d %s", rsp.StatusCode, body)
	}
	done := delta.lastDone()
	var gw *tracepb.Span
	testkit.Eventually(t, 20*time.Second, "the gateway's span kept", func() bool {
		r, err := admin.Read(context.Background(), &tracepb.ReadRequest{TraceId: traceID})
		if err != nil {
			return false
		}
		for _, s := range r.GetSpans() {
			if s.GetService() == "gateway" {
				gw = s
			}
		}
		return gw != nil
	})
	if end := time.Unix(0, gw.GetEnd()); end.Before(done) || gw.GetFailed() {
		t.Errorf("the gateway's span ended at %v (failed %v), before the handler finished at %v", end, gw.GetFailed(), done)
	}
}
