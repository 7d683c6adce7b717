package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcmd "google.golang.org/grpc/metadata"

	"micro.dev/micro/blocks/auth"
	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/blocks/runtime"
	"micro.dev/micro/blocks/store"
	fauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/gateway"
	"micro.dev/micro/internal/testkit"
	authpb "micro.dev/micro/proto/auth"
	regpb "micro.dev/micro/proto/registry"
	storepb "micro.dev/micro/proto/store"
	"micro.dev/micro/proxy"
	"micro.dev/micro/router"
	"micro.dev/micro/schema"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// family is one metric family of a scrape, looked up by labels.
type family struct {
	t *testing.T
	f *dto.MetricFamily
}

// scrape reads GET /metrics from url and parses the text exposition.
func scrape(t *testing.T, url string, header ...string) map[string]family {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 {
		b, _ := io.ReadAll(rsp.Body)
		t.Fatalf("GET %s: %d %s", url, rsp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]family{}
	for name, f := range fams {
		out[name] = family{t, f}
	}
	return out
}

// metric returns the series whose labels include want ("k", "v", ...),
// nil when there is none.
func (f family) metric(want ...string) *dto.Metric {
	if f.f == nil {
		return nil
	}
next:
	for _, m := range f.f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if got[want[i]] != want[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's, gauge's or untyped series' value, or a histogram's
// count; -1 when the series is missing.
func (f family) value(want ...string) float64 {
	m := f.metric(want...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}

// stack is a real proxy hosting the auth and store blocks on a real
// database, a gateway in front of it, and the metrics served beside the
// gateway.
type stack struct {
	m       *Metrics
	db      *schema.DB
	conn    *grpc.ClientConn // to the proxy over TCP
	gateway string           // http://host:port
	token   string           // the default admin's access token
}

// admin returns ctx calling as the default admin.
func (s *stack) admin(ctx context.Context) context.Context {
	return grpcmd.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token)
}

// post sends a JSON body to the gateway as the default admin.
func (s *stack) post(t *testing.T, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.gateway+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	return rsp.StatusCode
}

func newStack(t *testing.T) *stack {
	t.Helper()
	m := New("v-test", quiet)
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"), schema.Options{
		Migrations: []schema.Migrations{auth.Migrations, store.Migrations, registry.Migrations, runtime.Migrations},
		Observe:    m.ObserveWrites,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m.WatchDatabase(db)

	a := auth.New(db, fauth.Namespaces, auth.WithLogger(quiet))
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	p := proxy.New(proxy.Config{Logger: quiet, Auth: a, Observer: m})
	a.Register(p.Server())
	st := store.New(db, fauth.Namespaces)
	st.Register(p.Server())
	st.Start(context.Background())
	t.Cleanup(func() { st.Close() })
	lis := testkit.Listen(t)
	go p.Serve(lis)
	t.Cleanup(func() { p.Stop(time.Second) })
	inproc, err := p.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inproc.Close() })
	router := router.New(router.Config{Local: p.Methods, LocalConn: inproc, Logger: quiet})
	t.Cleanup(router.Close)

	gw := gateway.New(gateway.Config{
		Logger:  quiet,
		Observe: m.ObserveRequest,
		Router: gateway.RouterFunc(func(ctx context.Context, ns, service, endpoint string) (gateway.Route, error) {
			r, err := router.Resolve(ctx, ns, service, endpoint)
			if err != nil {
				return gateway.Route{}, err
			}
			return gateway.Route{Conn: inproc, ServerStream: r.ServerStream, ClientStream: r.ClientStream}, nil
		}),
	})
	srv := httptest.NewServer(m.Mount(gw, nil))
	t.Cleanup(srv.Close)

	conn := testkit.Dial(t, lis.Addr().String())
	rsp, err := authpb.NewAuthClient(conn).Token(context.Background(), &authpb.TokenRequest{Id: "admin", Secret: "micro"})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{m: m, db: db, conn: conn, gateway: srv.URL, token: rsp.GetToken().GetAccessToken()}
}

// TestProxyMetrics: calls are counted by service, endpoint and code, timed,
// and streams in flight gauged; names nobody knows count as unknown.
func TestProxyMetrics(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = s.admin(ctx)
	client := storepb.NewStoreClient(s.conn)
	for range 3 {
		if _, err := client.Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: "k", Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Read(ctx, &storepb.ReadRequest{Key: "missing"}); errors.Code(err) != 404 {
		t.Fatalf("read of a missing key: %v", err)
	}
	s.conn.Invoke(ctx, "/nosuch.Foo/Bar", &codec.Frame{}, new(codec.Frame), grpc.CallContentSubtype(codec.Bytes))

	watch, err := healthpb.NewHealthClient(s.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, s.gateway+"/metrics")
	handled := fams["micro_grpc_server_handled_total"]
	for _, c := range []struct {
		service, endpoint, code string
		want                    float64
	}{
		{"store", "Store.Write", "OK", 3},
		{"store", "Store.Read", "NotFound", 1},
		{Unknown, Unknown, "Internal", 1},
	} {
		if got := handled.value("service", c.service, "endpoint", c.endpoint, "code", c.code); got != c.want {
			t.Errorf("handled %s %s %s = %v, want %v", c.service, c.endpoint, c.code, got, c.want)
		}
	}
	if handled.metric("service", "nosuch") != nil {
		t.Errorf("an unknown service's name became a label")
	}
	if got := fams["micro_grpc_server_handling_seconds"].value("service", "store", "endpoint", "Store.Write"); got != 3 {
		t.Errorf("Store.Write latency samples = %v, want 3", got)
	}
	streams := fams["micro_grpc_server_streams_in_flight"]
	if got := streams.value("service", "grpc.health.v1", "endpoint", "Health.Watch"); got != 1 {
		t.Errorf("streams in flight during Watch = %v, want 1", got)
	}

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams = scrape(t, s.gateway+"/metrics")
		if fams["micro_grpc_server_streams_in_flight"].value("service", "grpc.health.v1", "endpoint", "Health.Watch") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Watch stream is still counted in flight after its cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := fams["micro_build_info"].value("version", "v-test"); got != 1 {
		t.Errorf("build info = %v", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
}

// TestGatewayMetrics: HTTP requests are counted by service, endpoint and
// status, the gateway's own routes by route, and unknown names as unknown.
func TestGatewayMetrics(t *testing.T) {
	s := newStack(t)
	post := func(path, body string) int { return s.post(t, path, body) }
	if code := post("/store/write", `{"record":{"key":"a","value":"dg=="}}`); code != 204 {
		t.Fatalf("write: %d", code)
	}
	if code := post("/store/read", `{"key":"missing"}`); code != 404 {
		t.Fatalf("read: %d", code)
	}
	post("/nosuch/call", `{}`)
	http.Get(s.gateway + "/health")

	// Observe runs as each handler returns, maybe just after the client
	// has its answer: poll for the last request.
	var fams map[string]family
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams = scrape(t, s.gateway+"/metrics")
		if fams["micro_http_requests_total"].value("service", Gateway, "endpoint", "/health", "code", "200") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("GET /health not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	reqs := fams["micro_http_requests_total"]
	if got := reqs.value("service", "store", "endpoint", "Store.Write", "code", "204"); got != 1 {
		t.Errorf("store write requests = %v", got)
	}
	if got := reqs.value("service", "store", "endpoint", "Store.Read", "code", "404"); got != 1 {
		t.Errorf("store read 404s = %v", got)
	}
	if got := reqs.value("service", Unknown, "endpoint", Unknown, "code", "500"); got != 1 {
		t.Errorf("unknown service requests = %v", got)
	}
	if got := fams["micro_http_request_duration_seconds"].value("service", "store", "endpoint", "Store.Write"); got != 1 {
		t.Errorf("store write latency samples = %v", got)
	}
	// The gateway's calls reach the blocks through the proxy, which counts
	// them too.
	if got := fams["micro_grpc_server_handled_total"].value("service", "store", "endpoint", "Store.Write", "code", "OK"); got != 1 {
		t.Errorf("proxy count of the gateway's write = %v", got)
	}
}

// TestDatabaseMetrics: the writer's batches, transactions and latencies,
// the read pool, and the file and WAL sizes.
func TestDatabaseMetrics(t *testing.T) {
	s := newStack(t)
	client := storepb.NewStoreClient(s.conn)
	ctx := s.admin(context.Background())
	const writes = 10
	for i := range writes {
		if _, err := client.Write(ctx, &storepb.WriteRequest{Record: &storepb.Record{Key: string(rune('a' + i)), Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	// Store.Read goes through the read pool.
	client.Read(ctx, &storepb.ReadRequest{Key: "a"})

	fams := scrape(t, s.gateway+"/metrics")
	batch := fams["micro_db_write_batch_size"].metric()
	if batch == nil || batch.Histogram.GetSampleCount() == 0 || batch.Histogram.GetSampleSum() < writes {
		t.Fatalf("batch sizes: %v", batch)
	}
	commits := fams["micro_db_write_transactions_total"].value("result", "commit")
	if commits < 1 || commits > float64(batch.Histogram.GetSampleCount()) {
		t.Errorf("commits %v for %d batches", commits, batch.Histogram.GetSampleCount())
	}
	// Every write is timed, the store's own writes (if any) included.
	if got := fams["micro_db_write_seconds"].value(); got < writes {
		t.Errorf("write latency samples = %v, want at least %d", got, writes)
	}
	if got := fams["micro_db_write_queue_seconds"].value(); got < writes {
		t.Errorf("queue wait samples = %v, want at least %d", got, writes)
	}
	if got := fams["micro_db_file_bytes"].value(); got <= 0 {
		t.Errorf("file size = %v", got)
	}
	// The writes since the last checkpoint are in the WAL.
	if got := fams["micro_db_wal_bytes"].value(); got <= 0 {
		t.Errorf("WAL size = %v", got)
	}
	if got := fams["go_sql_max_open_connections"].value("db_name", "read"); got < 2 {
		t.Errorf("read pool size = %v", got)
	}
	if got := fams["go_sql_open_connections"].value("db_name", "read"); got < 1 {
		t.Errorf("open read connections = %v", got)
	}
}

// TestBlockCollectors: the registry's live services and nodes, and the
// runtime's services by status, read at scrape time from the real blocks;
// a block that cannot answer leaves the rest of the scrape intact.
func TestBlockCollectors(t *testing.T) {
	s := newStack(t)
	reg := registry.New(s.db, fauth.Namespaces, registry.WithLogger(quiet))
	rt := runtime.New(s.db, fauth.Namespaces, runtime.Config{Logger: quiet, CacheDir: t.TempDir()})
	t.Cleanup(func() { rt.Close() })
	s.m.WatchRegistry(reg)
	s.m.WatchRuntime(rt)

	fams := scrape(t, s.gateway+"/metrics")
	if got := fams["micro_registry_nodes"].value(); got != 0 {
		t.Fatalf("nodes of an empty registry = %v", got)
	}
	ctx := fauth.ContextWithAccount(context.Background(),
		&fauth.Account{ID: "admin", Type: fauth.TypeUser, Issuer: "micro", Scopes: []string{fauth.ScopeAdmin}})
	for _, svc := range []*regpb.Service{
		{Name: "greeter", Version: "1", Nodes: []*regpb.Node{{Id: "g1", Address: "127.0.0.1:1001"}, {Id: "g2", Address: "127.0.0.1:1002"}}},
		{Name: "greeter", Version: "2", Nodes: []*regpb.Node{{Id: "g3", Address: "127.0.0.1:1003"}}},
		{Name: "other", Options: &regpb.Options{Domain: "team"}, Nodes: []*regpb.Node{{Id: "o1", Address: "127.0.0.1:1004"}}},
	} {
		if _, err := reg.Server().Register(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	fams = scrape(t, s.gateway+"/metrics")
	if got := fams["micro_registry_nodes"].value(); got != 4 {
		t.Errorf("live nodes = %v, want 4", got)
	}
	if got := fams["micro_registry_services"].value(); got != 3 {
		t.Errorf("live service versions = %v, want 3", got)
	}
	for _, status := range []string{"pending", "building", "running", "error", "stopped"} {
		if got := fams["micro_runtime_services"].value("status", status); got != 0 {
			t.Errorf("services %s = %v, want 0", status, got)
		}
	}
	if got := fams["micro_runtime_restarts_total"].value(); got != 0 {
		t.Errorf("restarts = %v", got)
	}

	// With the database gone, the blocks' collectors fail; the scrape
	// still answers with everything else.
	s.db.Close()
	rsp, err := http.Get(s.gateway + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(body), "micro_build_info") || strings.Contains(string(body), "micro_registry_nodes ") {
		t.Fatalf("scrape without a database: %d\n%s", rsp.StatusCode, body)
	}
}

// TestMount: GET /metrics asks allow; anything else passes through.
func TestMount(t *testing.T) {
	m := New("v", quiet)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("next " + r.URL.Path)) })
	srv := httptest.NewServer(m.Mount(next, func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer good" {
			return errors.Unauthorized("micro", "no")
		}
		return nil
	}))
	defer srv.Close()
	do := func(method, path string, header ...string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		b, _ := io.ReadAll(rsp.Body)
		return rsp.StatusCode, string(b)
	}
	if code, body := do("GET", "/metrics"); code != 401 || body != `{"id":"micro","code":401,"detail":"no","status":"Unauthorized"}` {
		t.Errorf("without credentials: %d %s", code, body)
	}
	if code, body := do("POST", "/metrics", "Authorization", "Bearer good"); code != 405 || !strings.Contains(body, `"code":405`) {
		t.Errorf("POST: %d %s", code, body)
	}
	if code, body := do("GET", "/metrics", "Authorization", "Bearer good"); code != 200 || !strings.Contains(body, "micro_build_info") {
		t.Errorf("with credentials: %d %s", code, body)
	}
	for _, path := range []string{"/", "/metrics/x", "/store/read"} {
		if code, body := do("GET", path); code != 200 || body != "next "+path {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
}

// TestNamesAreBounded: past the cap, new pairs count as Other, and a pair
// keeps the answer it first got.
func TestNamesAreBounded(t *testing.T) {
	n := names{max: 2}
	for _, c := range []struct{ in, want [2]string }{
		{[2]string{"a", "A.x"}, [2]string{"a", "A.x"}},
		{[2]string{"b", "B.x"}, [2]string{"b", "B.x"}},
		{[2]string{"c", "C.x"}, [2]string{Other, Other}},
		{[2]string{"a", "A.x"}, [2]string{"a", "A.x"}},
		{[2]string{"a", "A.y"}, [2]string{Other, Other}},
	} {
		s, e := n.label(c.in[0], c.in[1])
		if [2]string{s, e} != c.want {
			t.Errorf("label(%v) = %s %s, want %v", c.in, s, e, c.want)
		}
	}
}
