package node

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/framework/store"
	"micro.dev/micro/internal/testkit"
	tracepb "micro.dev/micro/proto/trace"
	pb "micro.dev/micro/testdata/helloworld/proto"
)

// Alpha calls beta; Beta writes to the store: the chain the trace test
// follows.
type Alpha struct{ c client.Client }

func (a *Alpha) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error {
	return a.c.Call(ctx, a.c.NewRequest("beta", "Beta.Call", req), rsp)
}

type Beta struct{ c client.Client }

func (b *Beta) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error {
	rsp.Msg = "Hello " + req.Name
	return store.NewStore(b.c, store.WithContext(ctx)).Write(&store.Record{Key: req.Name, Value: []byte(rsp.Msg)})
}

// startTracingNode starts a node on a fresh file that traces, on loopback,
// logging nowhere; cfg adds to that.
func startTracingNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	cfg.Data = filepath.Join(t.TempDir(), "micro.db")
	cfg.GatewayAddress, cfg.ProxyAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger, cfg.Trace = slog.New(slog.DiscardHandler), true
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// callAda posts {"name":"Ada"} to the gateway's path as a caller with
// traceparent (traceID, callerSpan) and returns the answer's headers once
// it is the greeting.
func callAda(t *testing.T, n *Node, path, traceID, callerSpan string) http.Header {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.GatewayAddr()+path, bytes.NewReader([]byte(`{"name":"Ada"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || string(body) != `{"msg":"Hello Ada"}` {
		t.Fatalf("got %d %s", rsp.StatusCode, body)
	}
	return rsp.Header
}

// startTraced starts a tracing node and the framework service name with
// handler h (built from the service's client), tracing too.
func startTraced(t *testing.T, n *Node, name string, h func(client.Client) any) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := service.New(service.Name(name), service.Proxy(n.ProxyAddr()), service.Logger(quiet), service.HandleSignal(false),
		service.Credentials("admin", "micro"), service.Tracing(true))
	if err := srv.Handle(h(srv.Client())); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
}

// TestTraceThroughGatewayServicesAndStore sends one request through the
// gateway to alpha, which calls beta, which writes to the store, with a
// caller's traceparent, and reads the trace back from the SQLite file:
// every hop is one span of the caller's trace, each the child of the hop
// before it.
func TestTraceThroughGatewayServicesAndStore(t *testing.T) {
	n := startTracingNode(t, Config{})
	startTraced(t, n, "beta", func(c client.Client) any { return &Beta{c} })
	startTraced(t, n, "alpha", func(c client.Client) any { return &Alpha{c} })

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	rsp := callAda(t, n, "/alpha/Alpha/Call", traceID, callerSpan)
	if tp := rsp.Get("traceparent"); !strings.Contains(tp, traceID) {
		t.Fatalf("answer's traceparent %q is not of the caller's trace %s", tp, traceID)
	}

	admin := adminTraceClient(t, n)
	// Each hop in order: its parent is the hop before it.
	want := []struct{ service, name string }{
		{"gateway", "POST /alpha/Alpha/Call"},
		{"proxy", "alpha.Alpha/Call"}, // the gateway calls through the proxy in-process
		{"router", "forward alpha.Alpha/Call"},
		{"alpha", "alpha.Alpha/Call"},
		{"alpha", "beta/Beta.Call"},
		{"proxy", "beta.Beta/Call"},
		{"router", "forward beta.Beta/Call"},
		{"beta", "beta.Beta/Call"},
		{"beta", "store/Store.Write"},
		{"proxy", "store.Store/Write"},
	}
	var spans []*tracepb.Span
	testkit.Eventually(t, 20*time.Second, "every span of the trace kept", func() bool {
		r, err := admin.Read(context.Background(), &tracepb.ReadRequest{TraceId: traceID})
		if err != nil {
			return false
		}
		spans = r.GetSpans()
		return len(spans) >= len(want)
	})
	parent := callerSpan
	for i, w := range want {
		var found *tracepb.Span
		for _, s := range spans {
			if s.GetService() == w.service && s.GetName() == w.name {
				found = s
			}
		}
		if found == nil {
			t.Fatalf("hop %d (%s %q) missing from %v", i, w.service, w.name, spans)
		}
		if found.GetParentId() != parent {
			t.Fatalf("hop %d (%s %q) has parent %s, want %s (the hop before); spans %v", i, w.service, w.name, found.GetParentId(), parent, spans)
		}
		if found.GetEnd() <= found.GetStart() || found.GetFailed() {
			t.Fatalf("hop %d: start %d end %d failed %v", i, found.GetStart(), found.GetEnd(), found.GetFailed())
		}
		parent = found.GetSpanId()
	}
	if len(spans) != len(want) {
		t.Errorf("%d spans, want %d: %v", len(spans), len(want), spans)
	}

	list, err := admin.List(context.Background(), &tracepb.ListRequest{Service: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetTraces()) == 0 || list.GetTraces()[0].GetTraceId() != traceID {
		t.Fatalf("traces of beta: %v", list.GetTraces())
	}
}

func adminTraceClient(t *testing.T, n *Node) tracepb.TraceClient {
	t.Helper()
	c, err := client.New(client.Options{Proxy: n.ProxyAddr(), ID: "admin", Secret: "micro"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return tracepb.NewTraceClient(c.Conn())
}

// collector is an OpenTelemetry collector's trace service that keeps the
// names of the spans it is sent.
type collector struct {
	coltrace.UnimplementedTraceServiceServer
	names chan string
}

func (c *collector) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				select {
				case c.names <- s.GetName():
				default:
				}
			}
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

// TestOTLPExport has the node export to a collector on loopback as well as
// to its file: a call through the gateway arrives there.
func TestOTLPExport(t *testing.T) {
	col := &collector{names: make(chan string, 100)}
	gs := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(gs, col)
	addr := testkit.Serve(t, gs)

	n := startTracingNode(t, Config{OTLPEndpoint: "http://" + addr})
	rsp, err := http.Post("http://"+n.GatewayAddr()+"/nosuch/Nosuch/Call", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	n.Close() // flushes the batch
	for {
		select {
		case name := <-col.names:
			if name == "POST /nosuch/Nosuch/Call" {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the gateway's span never reached the collector")
		}
	}
}
