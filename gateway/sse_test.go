package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/testkit"
	eventspb "micro.dev/micro/proto/events"
)

// fakeEvents is an events.Stream server that records subscriptions and
// sends what the test feeds it.
type fakeEvents struct {
	eventspb.UnimplementedStreamServer
	subs chan subscribed
	feed chan *eventspb.Event
}

type subscribed struct {
	req *eventspb.ConsumeRequest
	md  metadata.Metadata
}

func (f *fakeEvents) Consume(stream grpc.BidiStreamingServer[eventspb.ConsumeRequest, eventspb.Event]) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	f.subs <- subscribed{req, metadata.FromContext(stream.Context())}
	if req.Topic == "refused" {
		return errors.BadRequest("events", "topic refused")
	}
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		select {
		case ev := <-f.feed:
			if ev.Topic == "fail" {
				return errors.InternalServerError("events", "disk on fire")
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func newSSEEnv(t *testing.T, beat time.Duration) (*fakeEvents, *httptest.Server) {
	t.Helper()
	gs := grpc.NewServer()
	f := &fakeEvents{subs: make(chan subscribed, 10), feed: make(chan *eventspb.Event)}
	eventspb.RegisterStreamServer(gs, f)
	conn := testkit.Dial(t, testkit.Serve(t, gs))
	gw := New(Config{
		Router: RouterFunc(func(ctx context.Context, ns, service, endpoint string) (Route, error) {
			if service != "events" || endpoint != "Stream.Consume" {
				return Route{}, ErrServiceNotFound
			}
			return Route{Conn: conn, ServerStream: true, ClientStream: true}, nil
		}),
		SSEHeartbeat: beat,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return f, srv
}

// openSSE starts a GET and returns the response and a line reader.
func openSSE(t *testing.T, url string, header ...string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rsp.Body.Close() })
	return rsp, bufio.NewReader(rsp.Body)
}

// block reads one SSE block (lines up to a blank line).
func block(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream after %q: %v", lines, err)
		}
		line = strings.TrimRight(line, "\n")
		if line == "" {
			return strings.Join(lines, "\n")
		}
		lines = append(lines, line)
	}
}

func TestSSE(t *testing.T) {
	t.Parallel()
	f, srv := newSSEEnv(t, time.Hour)
	rsp, r := openSSE(t, srv.URL+"/events/orders.dead?group=billing&offset=1700000000", "Micro-Namespace", "tenant")
	if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("response: %d %v", rsp.StatusCode, rsp.Header)
	}
	sub := <-f.subs
	if sub.req.Topic != "orders.dead" || sub.req.Group != "billing" || sub.req.Offset != 1700000000 || !sub.req.AutoAck ||
		sub.md[metadata.Namespace] != "tenant" {
		t.Fatalf("subscription: %v %v", sub.req, sub.md)
	}
	if got := block(t, r); got != ": subscribed to orders.dead" {
		t.Fatalf("first block: %q", got)
	}
	f.feed <- &eventspb.Event{Topic: "orders.dead", Sequence: 7, Payload: []byte("{ \"id\": 1,\n \"ok\": true }")}
	if got, want := block(t, r), "id: 7\nevent: orders.dead\ndata: {\"id\":1,\"ok\":true}"; got != want {
		t.Fatalf("JSON event:\n%s\nwant\n%s", got, want)
	}
	f.feed <- &eventspb.Event{Topic: "orders.dead", Sequence: 8, Payload: []byte("two\nlines")}
	if got, want := block(t, r), "id: 8\nevent: orders.dead\ndata: \"two\\nlines\""; got != want {
		t.Fatalf("text event:\n%s\nwant\n%s", got, want)
	}
	f.feed <- &eventspb.Event{Topic: "fail"}
	if got := block(t, r); !strings.HasPrefix(got, "event: error\ndata: {") || !strings.Contains(got, "disk on fire") {
		t.Fatalf("error event: %q", got)
	}
}

func TestSSEResumeAndHeartbeat(t *testing.T) {
	t.Parallel()
	f, srv := newSSEEnv(t, 10*time.Millisecond)
	_, r := openSSE(t, srv.URL+"/events/orders?offset=5&sequence=3", "Last-Event-ID", "41")
	if sub := <-f.subs; sub.req.Sequence != 42 || sub.req.Offset != 0 {
		t.Fatalf("Last-Event-ID 41 should resume at 42 alone: %v", sub.req)
	}
	block(t, r) // subscribed
	if got := block(t, r); got != ": ping" {
		t.Fatalf("heartbeat: %q", got)
	}
	_, r = openSSE(t, srv.URL+"/events/orders?last_event_id=9")
	if sub := <-f.subs; sub.req.Sequence != 10 {
		t.Fatalf("last_event_id query: %v", sub.req)
	}
	block(t, r)
}

func TestSSEErrors(t *testing.T) {
	t.Parallel()
	f, srv := newSSEEnv(t, time.Hour)
	get := func(path string, header ...string) (int, string) {
		rsp, r := openSSE(t, srv.URL+path, header...)
		b, _ := io.ReadAll(r)
		return rsp.StatusCode, string(b)
	}
	// A refused subscription answers with its status, not a stream.
	code, body := get("/events/refused")
	<-f.subs
	if code != 400 || !strings.Contains(body, "topic refused") {
		t.Fatalf("refused: %d %s", code, body)
	}
	for _, c := range []struct{ path, header, value string }{
		{"/events/t?offset=abc", "", ""},
		{"/events/t?offset=-1", "", ""},
		{"/events/t?sequence=x", "", ""},
		{"/events/t", "Last-Event-ID", "nope"},
		// Ids no event can have: resuming after them must not wrap
		// around to the start of the topic.
		{"/events/t", "Last-Event-ID", "18446744073709551615"},
		{"/events/t", "Last-Event-ID", "9223372036854775807"},
		{"/events/t?last_event_id=9223372036854775808", "", ""},
		{"/events/t?sequence=9223372036854775808", "", ""},
		{"/events/t?offset=9223372036854775808", "", ""},
	} {
		var h []string
		if c.header != "" {
			h = []string{c.header, c.value}
		}
		if code, body := get(c.path, h...); code != 400 || !strings.Contains(body, `"code":400`) {
			t.Fatalf("%s %s: %d %s", c.path, c.value, code, body)
		}
	}
	// Only GET of exactly /events/{topic} is a stream.
	rsp, err := http.Post(srv.URL+"/events/t", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.Header.Get("Content-Type") == "text/event-stream" {
		t.Fatal("POST /events/t became a stream")
	}
	for _, p := range []string{"/events/", "/events/a/b"} {
		if _, ok := eventsTopic(httptestRequest(p)); ok {
			t.Fatalf("%s taken for an events stream", p)
		}
	}
}

func httptestRequest(path string) *http.Request {
	return httptest.NewRequest(http.MethodGet, path, nil)
}
